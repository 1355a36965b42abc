"""The `ebm` source's sampling variants on one fitted model and the same episodes (design on tuning seeds).

    python benchmarks/ebm_variants.py --agent runs/agents/Spiral7x7-x5-seed0 --episodes 20 --nodes 50 100 \
        --variants "default;fill:budget=fill;route:far_at=100"

With `--sorb 1000`, SORB's uniform states are planned on the same episodes before and after the variants
(the timing baseline, in the same process: the machines are shared). Fits the `ebm` source once on the
agent's trajectories with `plan eval`'s defaults (or loads the energy saved by an earlier call with `--fit`),
then plans every variant (`name:setting=value,...`, settings of `plan eval`'s sources that act at sampling
time) at every node budget on the same episodes at difficulties 0.7-1.0, and prints success, the nodes used,
and the generation, graph and closed-loop time per episode. One process, one torch thread. The ground truth
draws and scores the episodes only.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from ebmplan.plan.agent.run import load_agent
from ebmplan.plan.eval.protocol import PlanEvalConfig, episode_noise, sample_episodes
from ebmplan.plan.search.planner import plan_episodes
from ebmplan.plan.sources.generators import EBMSource
from ebmplan.plan.sources.registry import make_source


def parse_variants(text: str) -> list[tuple[str, dict]]:
    out = []
    for item in filter(None, text.split(";")):
        name, _, settings = item.partition(":")
        kv = dict(s.split("=", 1) for s in filter(None, settings.split(",")))
        out.append((name, kv))
    return out


def settings(base: PlanEvalConfig, kv: dict) -> PlanEvalConfig:
    """`base` with the given settings (text values, converted to the fields' types), checked."""
    cfg = replace(base, **{k: v == "true" if isinstance(getattr(base, k), bool) else type(getattr(base, k))(v)
                           for k, v in kv.items()})
    cfg.check()
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", required=True, help="run folder of `ebmplan maze train`")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per difficulty bucket")
    parser.add_argument("--nodes", type=int, nargs="+", default=[50, 100], help="node budgets (caps)")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--variants", default="default", help="name:key=value,...;name:...")
    parser.add_argument("--sorb", type=int, default=0,
                        help="also plan SORB's uniform states (this many nodes) on the same episodes, first and "
                             "last: the baseline of the timing, in the same process")
    parser.add_argument("--fit-settings", default="", help="settings of the fit, key=value,... (e.g. gen_width=64)")
    parser.add_argument("--fit", type=Path, help="the fitted energy's weights: loaded when present, else saved")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = load_agent(args.agent)
    base = PlanEvalConfig(agent=(args.agent,), difficulties=(0.7, 0.8, 0.9, 1.0), episodes=args.episodes,
                          max_steps=args.max_steps)
    base = settings(base, parse_variants("fit:" + args.fit_settings)[0][1])
    run.maze.distances  # noqa: B018  (ground truth for drawing episodes, before any clock)
    ep = sample_episodes(run.maze, base)
    B = len(ep.starts)
    noise = episode_noise(run.maze, B, base.seed, base.max_steps)
    if args.fit is not None and args.fit.is_file():
        source = EBMSource(run, base)
        source.load_state_dict(torch.load(args.fit, weights_only=True))
    else:
        source = make_source("ebm", run, base)
        if args.fit is not None:
            args.fit.parent.mkdir(parents=True, exist_ok=True)
            torch.save(source.state_dict(), args.fit)
    print(f"agent {args.agent}; {B} episodes at d >= 0.7, {args.max_steps} steps; {time.strftime('%Y-%m-%d %H:%M')}")
    print("| variant | nodes | nodes used | success | generate ms / ep | graph ms / ep | loop ms / ep |")
    print("|---|---|---|---|---|---|---|")
    def row(name: str, n: int, cand, cfg) -> None:
        """Plan the episodes over `cand` and print the table's row."""
        res = plan_episodes(run, cand, ep.starts, ep.goals, noise, max_dist=cfg.max_dist,
                            wormhole_at=cfg.wormhole_factor * cfg.max_dist, max_memory=cfg.max_memory)
        print(f"| {name} | {n} | {cand.used:.1f} | {res['reached'].mean():.3f} ({res['reached'].sum()}/{B}) | "
              f"{1e3 * cand.seconds / B:.1f} | {1e3 * res['graph_seconds'] / B:.1f} | "
              f"{1e3 * res['loop_seconds'] / B:.1f} |", flush=True)

    def sorb(when: str) -> None:
        row(f"uniform (SORB, {when})", args.sorb,
            make_source("uniform", run, base).candidates(ep.starts, ep.goals, args.sorb), base)

    if args.sorb:
        sorb("first")
    for name, kv in parse_variants(args.variants):
        cfg = settings(base, kv)
        source.settings = cfg
        for n in args.nodes:
            source.reseed(0)
            row(name, n, source.candidates(ep.starts, ep.goals, n), cfg)
    if args.sorb:
        sorb("last")


if __name__ == "__main__":
    main()
