"""Planning benchmark on FourRooms x5: SORB (uniform, 1000 nodes) and the ebm source (<= 50 nodes) against
the plain policy at difficulty >= 0.7, on one trained agent.

    python benchmarks/plan.py --agent runs/agent-fr-s0 --episodes 30

Runs `ebmplan plan eval` twice (SORB's setting; the ebm generator at 25 and 50 nodes) on the same episodes
(same --seed) and prints both tables, the wall time of each, and the seed's hypothesis: ebm at <= 50 nodes
equal in success at d >= 0.7 with >= 10x less planning time per episode than SORB at 1000 nodes.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import torch


def hard_rows(path: Path) -> dict[tuple[str, int], dict]:
    """results.csv pooled over difficulties >= 0.7 -> {(source, nodes): success, episodes, ms per episode}."""
    out: dict[tuple[str, int], dict] = {}
    for r in csv.DictReader((path / "results.csv").open()):
        if float(r["difficulty"]) < 0.7 - 1e-9:
            continue
        p = out.setdefault((r["source"], int(r["nodes"])), {"successes": 0, "episodes": 0, "ms": []})
        p["successes"] += int(r["successes"])
        p["episodes"] += int(r["episodes"])
        p["ms"].append(float(r["plan_seconds_per_episode"]) * 1e3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--gen-steps", type=int, default=3000)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-plan"))
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\ntorch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    common = ["--agent", args.agent, "--map", "FourRooms", "--difficulties", "0.7", "0.8", "0.9", "1.0",
              "--episodes", str(args.episodes), "--threads", "1", "--overwrite"]
    jobs = {"sorb": ["--sources", "uniform", "--nodes", "1000"],
            "ebm": ["--sources", "ebm", "--nodes", "25", "50", "--gen-steps", str(args.gen_steps)]}
    results = {}
    for name, extra in jobs.items():
        out = args.runs / name
        cmd = [sys.executable, "-m", "ebmplan", "plan", "eval", *common, *extra, "--out", str(out)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"{name}: {time.perf_counter() - t0:.0f} s wall: {' '.join(cmd[1:])}")
        results.update(hard_rows(out))
    sorb = results[("uniform", 1000)]
    rate = lambda p: p["successes"] / p["episodes"]  # noqa: E731
    print(f"policy: {rate(results[('policy', 0)]):.2f}; SORB 1000: {rate(sorb):.2f}, "
          f"{sum(sorb['ms']) / len(sorb['ms']):.1f} ms/episode")
    for n in (25, 50):
        p = results[("ebm", n)]
        ms = sum(p["ms"]) / len(p["ms"])
        speedup = (sum(sorb["ms"]) / len(sorb["ms"])) / ms
        print(f"ebm {n}: success {rate(p):.2f} ({rate(p) - rate(sorb):+.2f} vs SORB), {ms:.1f} ms/episode, "
              f"{speedup:.1f}x less planning time than SORB")


if __name__ == "__main__":
    main()
