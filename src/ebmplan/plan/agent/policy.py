"""How well a trained maze agent does on its own (`ebmplan maze eval`): its deterministic policy run from starts to
goals, the success per difficulty (docs/protocol.md §3) with Wilson 95% intervals, and its distance against the
true shortest paths (Spearman correlation and mean absolute error on fresh pairs), written to `eval.json` and
`eval.md`. Also the examples that `maze train` draws: a few policy paths and the distance to one goal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from ...common.config import Config
from ...common.errors import ConfigError
from ...common.files import write_json
from ...common.runs import resolve_device
from ...common.stats import wilson
from ..world.env import PointMazeVec
from ..world.maze import Maze
from .networks import DistanceAgent
from .run import load_agent


@torch.no_grad()
def run_policy(agent: DistanceAgent, maze: Maze, starts: np.ndarray, goals: np.ndarray, max_steps: int,
               seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The deterministic actor from each start to its goal -> reached [N], steps [N], paths [T+1, N, 2]."""
    envs = PointMazeVec(maze, len(starts), seed=seed)
    envs.reset(states=starts, goals=goals)
    reached = np.linalg.norm(starts - goals, axis=1) < 1
    steps = np.where(reached, 0, max_steps)
    paths = [starts.copy()]
    for t in range(max_steps):
        if reached.all():
            break
        a = agent.action(envs.states, goals)
        states, hit = envs.step(a)
        envs.states[reached] = paths[-1][reached]  # finished episodes stay where they ended
        new = hit & ~reached
        steps[new] = t + 1
        reached |= hit
        paths.append(envs.states.copy())
    return reached, steps, np.stack(paths)


def example_rollouts(agent: DistanceAgent, maze: Maze, *, seed: int, n: int = 8, difficulty: float = 0.2,
                     max_steps: int = 100) -> dict:
    """The policy from `n` starts to goals at `difficulty`, for a figure: starts, goals [n, 2], reached, steps
    [n], paths [T+1, n, 2], and the difficulty and step limit they were run at."""
    rng = np.random.default_rng(seed + 7)
    starts, goals = maze.sample_pairs(rng, n, difficulty)
    reached, steps, paths = run_policy(agent, maze, starts, goals, max_steps, seed + 7)
    return {"starts": starts, "goals": goals, "reached": reached, "steps": steps, "paths": paths,
            "difficulty": difficulty, "max_steps": max_steps}


def distance_field(agent: DistanceAgent, maze: Maze, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The learned and the true distance from every free cell's centre to `goal`: [H, W] each, nan in walls."""
    centres = maze.cells + 0.5
    goals = np.repeat(goal[None], len(centres), 0)
    learned = np.full(maze.walls.shape, np.nan)
    true = np.full(maze.walls.shape, np.nan)
    learned[maze.cells[:, 0], maze.cells[:, 1]] = agent.distance(centres, goals)
    true[maze.cells[:, 0], maze.cells[:, 1]] = maze.true_distance(centres, goals)
    return learned, true


@dataclass
class MazeEvalConfig(Config):
    """Measure a trained maze agent: plain-policy success per difficulty and distance quality."""

    run: str
    """run folder written by `ebmplan maze train`"""
    difficulties: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    """difficulty buckets d (true distance / longest shortest path), each d ± 0.05"""
    episodes: int = 100
    """episodes per difficulty, all run as one batch"""
    max_steps: int = 300
    """step limit of an episode"""
    pairs: int = 2000
    """fresh (start, goal) pairs for the distance quality"""
    max_true: float = 15.0
    """only pairs whose true distance is at most this count for the distance quality"""
    seed: int = 12345
    """seed of the evaluation episodes and pairs (distinct from training seeds)"""
    device: str = "cpu"
    """auto, cpu or cuda: where the agent runs"""
    out: str | None = None
    """folder for eval.json and eval.md, made if missing (None: the agent's run folder)"""

    def check(self) -> None:
        if not self.run:
            raise ConfigError("give the run folder to evaluate: ebmplan maze eval RUN")
        if self.out is not None and Path(self.out).exists() and not Path(self.out).is_dir():
            raise ConfigError(f"--out {self.out} exists and is not a folder")
        self.require(at_least_one=("episodes", "max_steps", "pairs"))
        for d in self.difficulties:
            if not 0 < d <= 1:
                raise ConfigError(f"--difficulties must lie in (0, 1], got {d}")


def measure_policy(agent: DistanceAgent, maze: Maze, cfg: MazeEvalConfig) -> dict:
    """Plain-policy success per difficulty (Wilson 95%) and distance Spearman/MAE on fresh pairs."""
    rng = np.random.default_rng(cfg.seed)
    starts, goals, bucket = [], [], []
    for k, d in enumerate(cfg.difficulties):
        s, g = maze.sample_pairs(rng, cfg.episodes, d)
        starts.append(s)
        goals.append(g)
        bucket.append(np.full(cfg.episodes, k))
    starts, goals, bucket = np.concatenate(starts), np.concatenate(goals), np.concatenate(bucket)
    t0 = time.perf_counter()
    reached, steps, _ = run_policy(agent, maze, starts, goals, cfg.max_steps, cfg.seed)
    rollout_seconds = time.perf_counter() - t0
    table = []
    for k, d in enumerate(cfg.difficulties):
        hits = reached[bucket == k]
        low, high = wilson(int(hits.sum()), len(hits))
        table.append({"difficulty": d, "success": float(hits.mean()), "low": low, "high": high,
                      "episodes": len(hits), "mean_steps_success": float(steps[bucket == k][hits].mean())
                      if hits.any() else None})
    # Distance quality: fresh uniform pairs, kept if the true distance is within max_true.
    a, b = np.zeros((0, 2)), np.zeros((0, 2))
    while len(a) < cfg.pairs:
        s, g = maze.sample_free(rng, 20 * cfg.pairs), maze.sample_free(rng, 20 * cfg.pairs)
        keep = maze.true_distance(s, g) <= cfg.max_true
        a, b = np.concatenate([a, s[keep]]), np.concatenate([b, g[keep]])
    a, b = a[: cfg.pairs], b[: cfg.pairs]
    true, predicted = maze.true_distance(a, b), agent.distance(a, b)
    return {"success": table, "spearman": float(spearmanr(predicted, true).statistic),
            "mae": float(np.abs(predicted - true).mean()), "pairs": cfg.pairs, "max_true": cfg.max_true,
            "max_distance": maze.max_distance, "rollout_seconds": rollout_seconds}


def success_table(result: dict, title: str) -> str:
    """`measure_policy`'s result as the markdown of eval.md."""
    rows = [f"### {title}", "", "| difficulty | success | 95% interval | episodes | mean steps (successes) |",
            "|---|---|---|---|---|"]
    for r in result["success"]:
        steps = f"{r['mean_steps_success']:.1f}" if r["mean_steps_success"] is not None else "-"
        rows.append(f"| {r['difficulty']:.1f} | {r['success']:.2f} | [{r['low']:.2f}, {r['high']:.2f}] | "
                    f"{r['episodes']} | {steps} |")
    rows += ["", f"Distance quality on {result['pairs']} fresh pairs with true distance <= "
             f"{result['max_true']:g}: Spearman {result['spearman']:.3f}, MAE {result['mae']:.2f} "
             f"(predicted steps vs true cells).", ""]
    return "\n".join(rows)


def maze_eval(cfg: MazeEvalConfig) -> dict:
    """`ebmplan maze eval RUN`: write eval.json and eval.md into `cfg.out` (default: the run folder) and return
    the result."""
    cfg.validate()
    loaded = load_agent(cfg.run, resolve_device(cfg.device))
    out = Path(cfg.out) if cfg.out else loaded.path
    try:  # before the work: a folder that cannot be made is a usage error
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {out} cannot be made: {err.strerror}") from None
    result = measure_policy(loaded.agent, loaded.maze, cfg)
    write_json(out / "eval.json", {"config": cfg, **result})
    c = loaded.config
    title = f"{loaded.maze.name} x{c.resize}{' thin' if c.thin else ''}, seed {c.seed}, {c.steps} updates"
    (out / "eval.md").write_text(success_table(result, title))
    return result
