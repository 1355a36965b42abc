"""Every energy on the spiral at defaults: `ebmplan compare --data spiral`, timed, table printed.

Run: python benchmarks/compare.py [--out runs/bench-compare]
"""

from __future__ import annotations

import sys
import time

import torch

from ebmplan.experiments.compare import CompareConfig, compare


def main() -> None:
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "runs/bench-compare"
    t0 = time.perf_counter()
    run = compare(CompareConfig(data="spiral", out=out, overwrite=True))  # prints the table
    wall = time.perf_counter() - t0
    print(f"\ncommand: ebmplan compare --data spiral --out {out}")
    print(f"wall time {wall:.0f} s on {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
          f"figure: {run / 'compare.png'}")


if __name__ == "__main__":
    main()
