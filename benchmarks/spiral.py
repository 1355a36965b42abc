"""The default spiral run, and an ablation over every loss and every negative kind.

    python benchmarks/spiral.py [--steps N] [--only default]

Prints one markdown table (time and all metrics per variant) and the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

from ebmplan import LOSSES, TrainConfig, train

VARIANTS: dict[str, dict] = {"default": {}}
VARIANTS.update({f"loss={name}": {"loss": name} for name in LOSSES if name != TrainConfig.loss})
VARIANTS.update({f"negatives={kind}": {"negatives": kind} for kind in ("uniform", "perturb", "model", "hard")})
COLUMNS = ["precision", "coverage", "nll", "nll_uniform", "mmd", "mmd_floor", "converged", "train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--only", nargs="*", default=list(VARIANTS), help="variant names to run")
    parser.add_argument("--out", default="runs/bench-spiral")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"# command: python {' '.join(sys.argv)}\n")
    print("| variant | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name in args.only:
        cfg = TrainConfig(out=f"{args.out}/{name}", overwrite=True, steps=args.steps, **VARIANTS[name])
        try:
            m = json.loads((train(cfg, command="bench") / "metrics.json").read_text())
            cells = [f"{m[c]:.4g}" for c in COLUMNS]
        except RuntimeError as err:  # a diverging variant is a result too
            cells = [f"failed: {str(err).split(';')[0]}"] + [""] * (len(COLUMNS) - 1)
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
