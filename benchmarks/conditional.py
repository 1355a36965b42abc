"""Multi-valued regression on the spiral: conditional EBM, latent EBM and MSE regressor at the defaults.

Runs `ebmplan conditional` (the library call behind it) once per seed and prints, per model, the held-out
precision, mode coverage and modes found per x, with training and prediction times. Issue #3's targets for
the conditional EBM: mode_coverage >= 0.9 and precision <= 0.05, the regressor's precision visibly worse.

    python benchmarks/conditional.py [--seeds 0 1 2] [--steps N] [--keep DIR] [--set fusion=film ...]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from ebmplan.conditional import ConditionalConfig, run_conditional
from ebmplan.runs import read_json

KINDS = ("conditional", "latent", "deterministic", "regressor")


def overrides(items: list[str]) -> dict:
    """FIELD=VALUE strings -> typed ConditionalConfig fields (the type of each field's default)."""
    defaults = ConditionalConfig()
    out = {}
    for item in items:
        name, _, text = item.partition("=")
        default = getattr(defaults, name)  # an unknown field fails here, by name
        out[name] = text.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=ConditionalConfig.steps)
    parser.add_argument("--keep", help="keep each seed's run folder (with its figure) under this folder")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override ConditionalConfig fields, e.g. --set fusion=film latent_dim=2")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the figures below are per-core; the machine is shared
    print(f"# {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, {platform.machine()}, 1 thread")
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    rows = {k: [] for k in KINDS}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            out = f"{args.keep}/seed-{seed}" if args.keep else f"{tmp}/run"
            t0 = time.perf_counter()
            fields = {"seed": seed, "steps": args.steps, "out": out, "overwrite": True, **overrides(args.set)}
            run = run_conditional(ConditionalConfig(**fields))
            wall = time.perf_counter() - t0
            m = read_json(run / "metrics.json")
        print(f"seed {seed}: wall {wall:.0f} s")
        for kind in KINDS:
            r = m[kind]
            rows[kind].append(r)
            timing = (f"train {r['train_seconds']:5.1f} s  predict {r['predict_seconds']:4.1f} s"
                      if "train_seconds" in r else "(same model as conditional)")
            print(f"  {kind:<13} precision {r['precision']:.4f}  mode_coverage {r['mode_coverage']:.3f}  "
                  f"modes_found {r['modes_found']:.2f}/{r['branches_per_x']:.2f}  answers/x "
                  f"{r['answers_per_x']:4.1f}  {timing}")
    if len(args.seeds) > 1:
        print("mean over seeds:")
        for kind in KINDS:
            mean = {k: sum(r[k] for r in rows[kind]) / len(rows[kind])
                    for k in ("precision", "mode_coverage", "modes_found")}
            print(f"  {kind:<13} precision {mean['precision']:.4f}  "
                  f"mode_coverage {mean['mode_coverage']:.3f}  modes_found {mean['modes_found']:.2f}")


if __name__ == "__main__":
    main()
