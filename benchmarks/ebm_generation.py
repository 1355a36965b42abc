"""What the `ebm` source's generation costs and buys: samples per call and descent steps, on one fitted model.

    python benchmarks/ebm_generation.py --agent runs/agent-fr-s0 --episodes 50

Fits the `ebm` source once on the agent's trajectories (default settings), then plans with 50 generated nodes
on the same episodes at difficulties 0.7-1.0 for each (samples per call, descent steps) setting, and prints
success and the generation, graph and closed-loop time per episode. One process, one torch thread.
"""

from __future__ import annotations

import argparse
import time

import torch

from ebmplan.plan.agent.run import load_agent
from ebmplan.plan.eval.protocol import PlanEvalConfig, episode_noise, sample_episodes
from ebmplan.plan.search.planner import build_plan, run_planner
from ebmplan.plan.sources.registry import make_source

SETTINGS = ((4, 60), (2, 60), (4, 30), (2, 30), (1, 30))  # (samples per call, descent steps); (4, 60): default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", required=True, help="run folder of `ebmplan maze train`")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per difficulty bucket")
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = load_agent(args.agent)
    cfg = PlanEvalConfig(agent=(args.agent,), difficulties=(0.7, 0.8, 0.9, 1.0), episodes=args.episodes)
    run.maze.distances  # noqa: B018  (ground truth for drawing episodes, before any clock)
    ep = sample_episodes(run.maze, cfg)
    B = len(ep.starts)
    noise = episode_noise(run.maze, B, cfg.seed, cfg.max_steps)
    source = make_source("ebm", run, cfg)
    print(f"agent {args.agent}; ebm fitted in {source.fit_seconds:.0f} s; {B} episodes at d >= 0.7, "
          f"{args.nodes} nodes; {time.strftime('%Y-%m-%d %H:%M')}")
    print("| samples per call | descent steps | success | generate ms / ep | graph ms / ep | loop ms / ep |")
    print("|---|---|---|---|---|---|")
    for per_call, steps in SETTINGS:
        source.settings.per_call, source.settings.ebm_infer_steps = per_call, steps
        source.reseed(0)
        cand = source.candidates(ep.starts, ep.goals, args.nodes)
        plan = build_plan(run.agent, cand, ep.goals, cfg.max_dist)
        res = run_planner(run.agent, run.maze, plan, ep.starts, ep.goals, noise, cfg.max_dist)
        print(f"| {per_call} | {steps} | {res['reached'].mean():.3f} ({res['reached'].sum()}/{B}) | "
              f"{1e3 * cand.seconds / B:.1f} | {1e3 * plan.seconds / B:.1f} | {1e3 * res['seconds'] / B:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
