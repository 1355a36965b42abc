"""Point-maze benchmark: vectorised env speed, pairwise-distance speed, and default agents per map.

    python benchmarks/maze.py speed
    python benchmarks/maze.py agents --maps FourRooms Spiral7x7 Maze11x11 --runs runs/bench-maze

`speed` times the env at 1024 copies (median of 5 repeats of 100 batch steps) and `pairwise_distance` on
N = 1000 states for the default agent size (full matrix, and with cutoff 5 = SORB's MaxDist).
`agents` trains one default agent per map (`ebmplan maze train --map MAP`, seed 0) unless its run folder
already holds one, evaluates it (`ebmplan maze eval`), and prints the tables with train wall and CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ebmplan.plan import PointMazeVec, load_maze
from ebmplan.plan.agent.networks import DistanceAgent
from ebmplan.plan.agent.policy import MazeEvalConfig, maze_eval, success_table
from ebmplan.plan.agent.run import MazeTrainConfig
from ebmplan.plan.agent.training import train_agent


def speed(threads: int) -> None:
    torch.set_num_threads(threads)
    maze = load_maze("FourRooms", resize=5)
    envs = PointMazeVec(maze, 1024, seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(100, 1024, 2))
    rates, cpu_rates = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        for a in actions:
            envs.step(a)
        rates.append(100 * 1024 / (time.perf_counter() - t0))
        cpu_rates.append(100 * 1024 / (time.process_time() - c0))
    print(f"env: FourRooms x5, 1024 copies: median {statistics.median(rates):,.0f} env steps/s wall "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}); "
          f"{statistics.median(cpu_rates):,.0f} per CPU-second")
    cfg = MazeTrainConfig()
    agent = DistanceAgent(maze.high, width=cfg.width, depth=cfg.depth, ensemble=cfg.ensemble, bins=cfg.bins)
    states = maze.sample_free(np.random.default_rng(1), 1000)
    for cutoff in (None, 5):
        times, cpu = [], []
        for _ in range(3 if cutoff else 2):
            t0, c0 = time.perf_counter(), time.process_time()
            d = agent.pairwise_distance(states, cutoff=cutoff)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        evaluated = np.isfinite(d).mean()
        print(f"pairwise_distance N=1000, width {cfg.width}, ensemble {cfg.ensemble}, cutoff {cutoff}: "
              f"median {statistics.median(times):.2f} s wall, {statistics.median(cpu):.2f} CPU-s "
              f"({evaluated:.1%} of pairs evaluated), "
              f"torch threads {threads}")


def agents(maps: list[str], runs: Path, steps: int | None) -> None:
    for name in maps:
        run = runs / name
        if not (run / "model.safetensors").is_file():
            cfg = MazeTrainConfig(map=name, out=str(run), overwrite=True)
            if steps:
                cfg.steps = steps
            train_agent(cfg)
        m = json.loads((run / "metrics.json").read_text())
        result = maze_eval(MazeEvalConfig(run=str(run)))
        print(success_table(result, f"{name} x5, seed 0"))
        print(f"train: {m['train_seconds']:.0f} s wall, {m.get('cpu_seconds', float('nan')):.0f} s CPU, "
              f"{m['updates']} updates, {m['env_steps']} env steps; "
              f"eval rollouts {result['rollout_seconds']:.1f} s\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["speed", "agents"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--maps", nargs="+", default=["FourRooms", "Spiral7x7", "Maze11x11"])
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-maze"))
    parser.add_argument("--steps", type=int, default=None, help="override the default number of updates")
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\ntorch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"cores")
    if args.part == "speed":
        speed(args.threads)
    else:
        torch.set_num_threads(args.threads)
        agents(args.maps, args.runs, args.steps)


if __name__ == "__main__":
    main()
