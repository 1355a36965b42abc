"""The capacity study, timed from scratch: prints the table, the wall time, whether precision improves with
width from 8 to 128, and the command that reproduces it.

    PYTHONPATH=src python benchmarks/capacity.py [ebmplan capacity options, e.g. --set steps=1000]
"""

from __future__ import annotations

import os
import shlex
import sys
import time

import torch
import tyro

from ebmplan.commands import COMMANDS
from ebmplan.common.errors import ConfigError
from ebmplan.experiments.capacity import CapacityConfig, run_capacity


def main() -> None:
    cfg = tyro.cli(CapacityConfig, args=sys.argv[1:])
    if cfg.out and os.path.exists(cfg.out):
        raise ConfigError(f"{cfg.out} exists; a timed study must start from an empty folder")
    t0 = time.perf_counter()
    result = run_capacity(cfg, COMMANDS)
    wall = time.perf_counter() - t0
    reused = sum(bool(r["reused"]) for r in result.rows)
    if reused:
        print(f"warning: {reused} runs were reused from an earlier sweep; the wall time does not cover them")

    by_width: dict[int, list[float]] = {}
    for r in result.rows:
        if r["status"] == "ok":
            by_width.setdefault(r["width"], []).append(r["precision"])
    means = {w: sum(v) / len(v) for w, v in sorted(by_width.items())}
    print("mean precision by width (lower is better): "
          + ", ".join(f"{w}: {m:.4f}" for w, m in means.items()))
    span = [w for w in means if 8 <= w <= 128]
    if len(span) >= 2:
        steps = list(zip(span[:-1], span[1:], strict=True))
        better = [b for a, b in steps if means[b] < means[a]]
        print(f"precision 8 -> 128: {means[span[0]]:.4f} -> {means[span[-1]]:.4f}; improves at "
              f"{len(better)} of {len(steps)} doublings; monotone: {len(better) == len(steps)}")
    print(f"wall time {wall:.0f} s on {os.cpu_count()} cores, torch {torch.__version__}, "
          f"date {time.strftime('%Y-%m-%d')}")
    print("command: PYTHONPATH=src python benchmarks/capacity.py " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    try:
        main()
    except ConfigError as err:
        sys.exit(f"error: {err}")
