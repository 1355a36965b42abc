"""Planning speed on one trained agent: pairwise distances, one planning call per source, whole episodes.

    python benchmarks/plan_speed.py --agent runs/agent-fr-s0

- `pairwise_distance` for N = 1000 uniform free states: the full N x N matrix (every pair through the actor and
  all critics of the ensemble) and with the planner's cutoff (pairs farther than the cutoff skipped, exactly).
- one planning call per source: `candidates` + `build_plan` (the graph and every node's cost to the goal) for a
  batch of episodes, in ms per episode; the shared sources build one graph for the batch, the generators one
  per episode. The generators are fitted first (`--gen-steps`; not timed: speed does not need a good model,
  but the recursion's work depends on the agent's distances, which is why a trained agent is needed).
- whole `plan eval` episodes: the closed-loop planner (a waypoint choice every step, 300 steps at most) on
  100 episodes per difficulty 0.1 ... 1.0, run as one batch, in episodes per second (planning call included);
  beside it the planning time per episode (the planning call plus every step's waypoint choice: what
  `plan eval` reports as planning ms), the rest being the environment and the policy.

Medians of `--repeats` runs; one process, `--threads` torch threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from ebmplan.plan.agent.run import load_agent
from ebmplan.plan.eval.protocol import PlanEvalConfig, episode_noise, sample_episodes
from ebmplan.plan.search.planner import build_plan, run_planner
from ebmplan.plan.sources.registry import make_source


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall seconds of `repeats` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", required=True, help="run folder of `ebmplan maze train`")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=100, help="episodes per difficulty bucket")
    parser.add_argument("--gen-steps", type=int, default=3000, help="training steps of cvae and ebm")
    parser.add_argument("--sources", default="uniform:1000,replay:1000,sgm:1000,cvae:50,ebm:50",
                        help="source:nodes pairs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = load_agent(args.agent)
    agent, maze = run.agent, run.maze
    print(f"agent {args.agent} ({run.config.map}, width {run.config.width}, ensemble {run.config.ensemble}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {time.strftime('%Y-%m-%d %H:%M')}")

    states = maze.sample_free(np.random.default_rng(1), 1000)
    agent.pairwise_distance(states[:100])  # warm up
    for cutoff in (None, 5.0):
        seconds, d = timed(lambda c=cutoff: agent.pairwise_distance(states, cutoff=c), args.repeats)
        print(f"pairwise_distance N=1000, cutoff {cutoff}: {seconds:.2f} s "
              f"({np.isfinite(d).mean():.1%} of pairs evaluated)", flush=True)

    cfg = PlanEvalConfig(agent=(args.agent,), episodes=args.episodes, gen_steps=args.gen_steps)
    maze.distances  # noqa: B018  (ground truth for drawing episodes, before any clock)
    ep = sample_episodes(maze, cfg)
    B = len(ep.starts)
    noise = episode_noise(maze, B, cfg.seed, cfg.max_steps)
    print(f"{B} episodes ({args.episodes} per difficulty bucket), max_dist {cfg.max_dist:g}")
    print("| source | nodes | planning call, ms / episode (generate + graph) | planning in all, ms / episode "
          "(+ loop) | whole episodes / s | success |")
    print("|---|---|---|---|---|---|")
    for item in args.sources.split(","):
        name, nodes = item.split(":")
        source = make_source(name, run, cfg)

        def plan(source=source, n=int(nodes)):
            cand = source.candidates(ep.starts, ep.goals, n)
            return cand, build_plan(agent, cand, ep.goals, cfg.max_dist)

        call, (cand, graph) = timed(plan, args.repeats)

        def episodes(name=name, plan=plan):
            return run_planner(agent, maze, plan()[1], ep.starts, ep.goals, noise, cfg.max_dist,
                               cfg.cleanup_steps if name == "sgm" else 0)

        whole, res = timed(episodes, max(1, args.repeats - 1))
        planning = call + res["seconds"]  # the last run's waypoint choices, with the median planning call
        print(f"| {name} | {nodes} | {1e3 * call / B:.2f} ({1e3 * cand.seconds / B:.2f} + "
              f"{1e3 * graph.seconds / B:.2f}) | {1e3 * planning / B:.2f} ({1e3 * res['seconds'] / B:.2f}) | "
              f"{B / whole:.0f} | {res['reached'].mean():.2f} |", flush=True)


if __name__ == "__main__":
    main()
