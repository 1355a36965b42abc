"""Peak memory of `ebmplan plan eval`, one source and node budget per process.

    python benchmarks/plan_memory.py --agent runs/agents/FourRooms-x5-seed1 --runs cvae:250:100,cvae:250:400

Each item `source:nodes:episodes` runs `ebmplan plan eval --agent RUN --sources SOURCE --nodes NODES` with
EPISODES episodes per difficulty bucket (the default 10 buckets, so 10 x EPISODES episodes) in its own process,
and prints that process's peak resident memory (`ru_maxrss` from `os.wait4`) and wall time. `--python`
runs another checkout's code with the same command (e.g. `PYTHONPATH=old/src`), to compare before and after.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    print(f"agent {args.agent}; {time.strftime('%Y-%m-%d %H:%M')}; PYTHONPATH={args.pythonpath or '-'}; "
          f"extra: {args.extra or '-'}")
    print("| source | nodes | episodes | peak RSS, GB | wall s | exit |")
    print("|---|---|---|---|---|---|")
    for item in args.runs.split(","):
        source, nodes, episodes = item.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "ebmplan", "plan", "eval", "--agent", args.agent, "--sources", source,
                   "--nodes", nodes, "--episodes", episodes, "--threads", "1", "--no-draw",
                   "--out", str(Path(tmp) / "plan"), *args.extra.split()]
            gb, seconds, code = peak(cmd, env)
        print(f"| {source} | {nodes} | {10 * int(episodes)} | {gb:.2f} | {seconds:.0f} | {code} |", flush=True)


if __name__ == "__main__":
    main()
