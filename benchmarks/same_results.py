"""Do two sweeps give the same results? Compares results.csv field by field, leaving out timing and node.

    python benchmarks/same_results.py runs/capacity-local runs/capacity-ray
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

SKIP = {"wall_seconds", "train_seconds", "infer_seconds", "node", "reused"}


def rows(folder: str) -> dict[str, dict[str, str]]:
    with (Path(folder) / "results.csv").open() as f:
        return {r["run"]: {k: v for k, v in r.items() if k not in SKIP} for r in csv.DictReader(f)}


def main(a: str, b: str) -> int:
    ra, rb = rows(a), rows(b)
    if ra.keys() != rb.keys():
        print(f"different runs: only in {a}: {sorted(ra.keys() - rb.keys())}; only in {b}: "
              f"{sorted(rb.keys() - ra.keys())}")
        return 1
    diffs = [(run, k, ra[run].get(k), rb[run].get(k)) for run in ra for k in ra[run].keys() | rb[run].keys()
             if ra[run].get(k) != rb[run].get(k)]
    fields = len(next(iter(ra.values())))
    for d in diffs[:20]:
        print("differs:", *d)
    print(f"{len(ra)} runs x {fields} fields compared (timing and node left out): "
          f"{'identical' if not diffs else f'{len(diffs)} differences'}")
    print(f"command: python benchmarks/same_results.py {a} {b}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
