"""Peak memory of `ebmplan plan eval`, one source and node budget per process.

    python benchmarks/plan_memory.py --agent runs/agents/FourRooms-x5-seed1 --runs cvae:250:100,cvae:250:400

Each item `source:nodes:episodes` runs `ebmplan plan eval --agent RUN --sources SOURCE --nodes NODES` with
EPISODES episodes per difficulty bucket (the default 10 buckets, so 10 x EPISODES episodes) in its own process,
and prints that process's peak resident memory (`ru_maxrss` from `os.wait4`), its wall time (for `cvae` and
`ebm` it includes fitting the generator, printed apart from results.csv's `fit_seconds`) and the episodes
planned together (`episodes_per_chunk`: all of them for the shared node sets). `--pythonpath` runs another
checkout's code with the same command (e.g. `old/src`), to compare before and after; `--keep DIR` keeps each
run folder as DIR/SOURCE-NODES-EPISODES (to compare the rows of two settings).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(peak resident GB, wall seconds, exit code) of one command run to the end."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 2**20, time.perf_counter() - t0, proc.returncode  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", required=True, help="run folder of `ebmplan maze train`")
    parser.add_argument("--runs", required=True, help="comma-separated source:nodes:episodes items")
    parser.add_argument("--pythonpath", default="", help="PYTHONPATH for the runs (another checkout's src)")
    parser.add_argument("--extra", default="", help="more plan eval options, e.g. '--max-memory 1'")
    parser.add_argument("--keep", default="", help="keep the run folders under this folder")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    print(f"agent {args.agent}; {time.strftime('%Y-%m-%d %H:%M')}; PYTHONPATH={args.pythonpath or '-'}; "
          f"extra: {args.extra or '-'}")
    extra = args.extra.split()
    max_memory = float(extra[extra.index("--max-memory") + 1]) if "--max-memory" in extra else 2.0
    print("| source | nodes | episodes | peak RSS, GB | wall s | of which fit s | episodes per chunk | exit |")
    print("|---|---|---|---|---|---|---|---|")
    for item in args.runs.split(","):
        source, nodes, episodes = item.split(":")
        B, n = 10 * int(episodes), int(nodes)
        # planner.episodes_per_chunk: ~100 bytes per pair of nodes of each per-episode graph being built
        per_episode = source in ("cvae", "ebm", "route")
        chunk = max(1, min(B, int(max_memory * 2**30 // (100 * n * n)))) if per_episode else B
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.keep) / f"{source}-{nodes}-{episodes}" if args.keep else Path(tmp) / "plan"
            cmd = [sys.executable, "-m", "ebmplan", "plan", "eval", "--agent", args.agent, "--sources", source,
                   "--nodes", nodes, "--episodes", episodes, "--threads", "1", "--no-draw",
                   "--out", str(out), *extra]
            gb, seconds, code = peak(cmd, env)
            rows = list(csv.DictReader((out / "results.csv").open())) if (out / "results.csv").exists() else []
        fit = max((float(r["fit_seconds"]) for r in rows if r["source"] == source), default=float("nan"))
        print(f"| {source} | {nodes} | {B} | {gb:.2f} | {seconds:.0f} | {fit:.0f} | {chunk} | {code} |", flush=True)


if __name__ == "__main__":
    main()
