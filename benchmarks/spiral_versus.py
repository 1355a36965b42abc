"""The default spiral run of two or more versions of ebmplan, back to back: quality per seed, training time.

    git worktree add --detach /tmp/today 90fdb69      # the recipe of issue #16's "today" (before the suite)
    git worktree add --detach /tmp/old 3bf501f~1      # standardised, the previous hyperparameters
    OMP_NUM_THREADS=1 python benchmarks/spiral_versus.py today=/tmp/today/src old=/tmp/old/src new=src \
        --seeds 1 2 3 --repeats 3

Each repeat runs every seed of every version as `ebmplan spiral --seed S` with that version's source
first on PYTHONPATH, the versions in an order that rotates from one seed to the next, so a load that comes and
goes on a shared machine hits every version alike. Prints one row per run (metrics.json) and, per version, the
median training time over all its runs with the range, and each seed's metrics (one seed gives one result on
one thread: the repeats differ only in time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

FIELDS = ["precision", "coverage", "nll", "nll_uniform", "nll_kde", "nll_generator", "mmd", "mmd_floor", "steps",
          "train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", help="NAME=SOURCE_DIR (the src/ folder of a checkout)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="runs/spiral-versus")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="time training by the CPU time of the run's process (time.perf_counter replaced by "
                             "time.process_time in it): with OMP_NUM_THREADS=1, what other jobs on a shared machine "
                             "do not change")
    args = parser.parse_args()
    versions = dict(v.split("=", 1) for v in args.versions)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.1f}")
    print(f"# command: python {' '.join(sys.argv)}", flush=True)
    runs: dict[str, list[dict]] = {name: [] for name in versions}
    names = list(versions)
    k = 0
    for repeat in range(args.repeats):
        for seed in args.seeds:
            order = names[k % len(names):] + names[:k % len(names)]
            k += 1
            for name in order:
                out = Path(args.out) / f"{name}-seed{seed}-r{repeat}"
                env = {**os.environ, "PYTHONPATH": str(Path(versions[name]).resolve())}
                cli = ["--seed", str(seed), "--out", str(out), "--overwrite"]
                clock = "import time; time.perf_counter = time.process_time; " if args.cpu_clock else ""
                code = f"import sys; {clock}from ebmplan.cli import main; sys.exit(main(['spiral', *sys.argv[1:]]))"
                subprocess.run([sys.executable, "-c", code, *cli], check=True, env=env, stdout=subprocess.DEVNULL)
                m = json.loads((out / "metrics.json").read_text())
                m.update(seed=seed, repeat=repeat, load=os.getloadavg()[0])
                runs[name].append(m)
                print(f"{name} seed {seed} repeat {repeat}: "
                      + ", ".join(f"{f} {m[f]:.4g}" for f in FIELDS if isinstance(m.get(f), (int, float)))
                      + f", load {m['load']:.1f}", flush=True)
    print()
    for name, rs in runs.items():
        t = [r["train_seconds"] for r in rs]
        print(f"{name}: training time median {statistics.median(t):.1f} s (range {min(t):.1f}-{max(t):.1f}, "
              f"{len(t)} runs)")
        for seed in args.seeds:
            r = next(r for r in rs if r["seed"] == seed)
            ts = [x["train_seconds"] for x in rs if x["seed"] == seed]
            print(f"  seed {seed}: " + ", ".join(f"{f} {r[f]:.4g}" for f in FIELDS[:-1]
                                                 if isinstance(r.get(f), (int, float)))
                  + f", train s median {statistics.median(ts):.1f} ({min(ts):.1f}-{max(ts):.1f})")
    if len(names) > 1:
        last = names[-1]
        for name in names[:-1]:
            ratios = [x["train_seconds"] / y["train_seconds"] for x, y in zip(runs[name], runs[last], strict=True)]
            print(f"{name} / {last} training time, per (seed, repeat): median {statistics.median(ratios):.2f} "
                  f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
