"""The 2D suite: the default recipe on every named set and several seeds, one table and one figure.

`ebmplan suite` is a preset sweep of `ebmplan train` over `--data` (sweep.py: the same suite run again skips its
complete runs) that writes, in the sweep folder:
- `suite.md` and `suite.csv`: per set, its family's sample quality and coverage (median and worst seed), the
  held-out NLL beside a KDE's and the generator's own, MMD beside its floor, steps, time, and the bounds of
  docs/protocol.md §2 that some seed misses;
- `suite.png`: every set's landscape with its samples, from the first seed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import tyro

from ..common.errors import ConfigError
from ..common.files import atomic_path
from ..points.metrics import headline
from ..points.plots import colorbar, draw_landscape, plt
from ..points.shapes import SUITE
from ..points.toy2d import DATASETS
from ..points.train import load_energy_run
from .sweep import SweepConfig, SweepResult, run_sweep

# Each family's bounds (docs/protocol.md §2): (metric, "max" or "min", bound); a mixture must also cover every
# mode, and every set's NLL must beat the KDE's and come within NLL_GAP of the generator's own.
BOUNDS = {"curve": (("precision", "max", 0.05), ("coverage", "min", 0.90)),
          "mixture": (("high_quality", "min", 0.90),),
          "area": (("in_support", "min", 0.90), ("cells_hit", "min", 0.90))}
NLL_GAP = 0.1
QUALITY = {"curve": "precision", "mixture": "high_quality", "area": "in_support"}  # the table's quality column
COVERAGE = {"curve": "coverage", "mixture": "modes_covered", "area": "cells_hit"}


@dataclass
class SuiteConfig:
    """Train the default recipe on every set of the 2D suite and several seeds; write one table and one figure."""

    data: tuple[str, ...] = ("all",)
    """data sets, e.g. --data moons rings (all: the suite's nine sets and the spiral)"""
    seeds: tuple[int, ...] = (1, 2, 3)
    """seeds, e.g. --seeds 1 2 3 (the reported seeds; tune on 0 and >= 100)"""
    set: Annotated[list[str], tyro.conf.UseAppendAction] = field(default_factory=list)
    """a train setting for every run instead of the default recipe, e.g. steps=500; repeatable"""
    out: str | None = None
    """suite folder (None: runs/suite-<hash of the sets and settings>, so the same suite run again skips its
    complete runs)"""
    workers: int = 0
    """runs at once (0 = one per CPU core)"""
    backend: str = "local"
    """local (a pool of processes on this machine) or ray (one Ray task per run)"""
    address: str | None = None
    """Ray cluster address (None: start a local Ray on this machine)"""

    def sets(self) -> list[str]:
        names = [n for n in self.data for n in (("spiral", *SUITE) if n == "all" else (n,))]
        for name in names:
            if name not in DATASETS:
                raise ConfigError(f"--data {name!r} is not a named 2D set; choose from all, {', '.join(DATASETS)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"--data names a set twice: {' '.join(self.data)}")
        return names


def run_suite(cfg: SuiteConfig, commands: Mapping[str, Any]) -> SweepResult:
    """Run every (set, seed) not yet complete (a sweep of `commands["train"]`, the command registry's), then
    write suite.md, suite.csv and suite.png."""
    sets = cfg.sets()
    out = cfg.out or str(Path("runs") / ("suite-" + hashlib.sha1(json.dumps([sets, sorted(cfg.set)]).encode())
                                         .hexdigest()[:8]))
    sweep = SweepConfig(command="train", grid=[f"data={','.join(sets)}"], seeds=cfg.seeds, set=cfg.set, out=out,
                        backend=cfg.backend, address=cfg.address, workers=cfg.workers)
    result = run_sweep(sweep, commands)
    rows = summary(result, sets)
    write_table(result.path, rows, cfg)
    draw_suite(result, sets, min(cfg.seeds), result.path / "suite.png")
    print(f"\n{(result.path / 'suite.md').read_text()}\nfigure: {result.path / 'suite.png'}")
    return result


def misses(run: dict) -> list[str]:
    """The bounds one run's metrics miss, each as a short phrase ('precision 0.061 > 0.05')."""
    family = DATASETS[run["data"]].family
    out = []
    for key, kind, bound in BOUNDS[family]:
        value = run[key]
        if (value > bound) if kind == "max" else (value < bound):
            out.append(f"{key} {value:.3g} {'>' if kind == 'max' else '<'} {bound}")
    if family == "mixture" and run["modes_covered"] < run["modes"]:
        out.append(f"modes {run['modes_covered']:.0f}/{run['modes']:.0f}")
    if run["nll"] > run["nll_kde"]:
        out.append(f"nll {run['nll']:.3f} > kde {run['nll_kde']:.3f}")
    if run["nll"] - run["nll_generator"] > NLL_GAP:
        out.append(f"nll gap {run['nll'] - run['nll_generator']:.2f} > {NLL_GAP}")
    return out


def summary(result: SweepResult, sets: list[str]) -> list[dict[str, Any]]:
    """One row per set: medians over its seeds, the worst seed where a bound applies, and every miss."""
    rows = []
    for name in sets:
        runs = [r for r in result.rows if r["data"] == name]
        ok = [r for r in runs if r["status"] == "ok"]
        family = DATASETS[name].family
        row: dict[str, Any] = {"set": name, "family": family, "seeds": f"{len(ok)}/{len(runs)}"}
        if ok:
            quality, cover = QUALITY[family], COVERAGE[family]
            worst = max if quality == "precision" else min
            row.update({"quality": quality, "quality_median": _median(ok, quality),
                        "quality_worst": worst(r[quality] for r in ok), "coverage": cover,
                        "coverage_median": _median(ok, cover), "coverage_worst": min(r[cover] for r in ok)})
            if family == "mixture":
                row["modes"] = ok[0]["modes"]
            for key in ("nll", "nll_kde", "nll_generator", "mmd", "mmd_floor", "steps", "train_seconds"):
                row[key] = _median(ok, key)
            row["nll_gap"] = _median(ok, "nll", minus="nll_generator")
            row["nll_gap_worst"] = max(r["nll"] - r["nll_generator"] for r in ok)
        missed = [f"seed {r['seed']}: {m}" for r in ok for m in misses(r)]
        missed += [f"seed {r['seed']}: failed ({r['error'].split(';')[0]})" for r in runs if r["status"] != "ok"]
        row["missed"] = "; ".join(missed)
        rows.append(row)
    return rows


def _median(runs: list[dict], key: str, minus: str | None = None) -> float:
    return statistics.median(r[key] - (r[minus] if minus else 0.0) for r in runs)


def write_table(path: Path, rows: list[dict[str, Any]], cfg: SuiteConfig) -> None:
    """suite.csv (every summary field) and suite.md (the table a reader checks the bounds on)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path / "suite.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    head = ["set", "quality: median (worst)", "coverage: median (worst)", "NLL", "KDE", "generator",
            "gap: median (worst)", "MMD (floor)", "steps", "train s", "bounds missed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "quality" not in r:
            lines.append(f"| {r['set']} | " + " | ".join(["-"] * (len(head) - 2)) + f" | {r['missed']} |")
            continue
        cover = (f"modes {r['coverage_median']:.0f}/{r['modes']:.0f} ({r['coverage_worst']:.0f})"
                 if r["family"] == "mixture" else f"{r['coverage']} {r['coverage_median']:.3f} "
                                                  f"({r['coverage_worst']:.3f})")
        cells = [f"{r['set']} ({r['family']})", f"{r['quality']} {r['quality_median']:.3f} ({r['quality_worst']:.3f})",
                 cover, f"{r['nll']:.3f}", f"{r['nll_kde']:.3f}", f"{r['nll_generator']:.3f}",
                 f"{r['nll_gap']:+.3f} ({r['nll_gap_worst']:+.3f})", f"{r['mmd']:.4f} ({r['mmd_floor']:.4f})",
                 f"{r['steps']:.0f}", f"{r['train_seconds']:.0f}", r["missed"] or "none"]
        lines.append("| " + " | ".join(cells) + " |")
    settings = ", ".join(cfg.set) or "none (the default recipe)"
    note = (f"Seeds {', '.join(map(str, cfg.seeds))}; settings changed: {settings}. Medians over seeds, the worst "
            f"seed in brackets. Bounds (docs/protocol.md §2): curves precision <= 0.05 and coverage >= 0.90; "
            f"mixtures >= 0.90 of samples within 3 std of a mode and every mode covered; areas >= 0.90 of samples "
            f"in the support and >= 0.90 of its cells hit; on every set NLL <= the KDE's and within {NLL_GAP} "
            f"nats of the generator's (gap = NLL - generator's). Train s: single-threaded, runs in parallel.")
    with atomic_path(path / "suite.md") as tmp:
        tmp.write_text("\n".join(lines) + f"\n\n{note}\n")


def draw_suite(result: SweepResult, sets: list[str], seed: int, path: Path) -> None:
    """Every set's landscape with its samples (seed `seed`), five to a row, each with its colour bar."""
    cols = min(5, len(sets))
    rows = math.ceil(len(sets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.3 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(sets):]:
        ax.set_axis_off()
    for ax, name in zip(axes.flat, sets, strict=False):
        row = next((r for r in result.rows if r["data"] == name and r["seed"] == seed), None)
        if row is None or row["status"] != "ok":
            ax.set_axis_off()
            ax.set_title(f"{name}: failed", fontsize=9, color="#c0392b")
            continue
        run = load_energy_run(result.path / row["run"])
        samples = torch.from_numpy(np.load(result.path / row["run"] / "samples.npy"))[:1500]  # [n, 2]
        image = draw_landscape(ax, run.energy, run.data.low, run.data.high, samples=samples,
                               title=f"{name}\n{headline(row)}")
        colorbar(fig, image, ax, fraction=0.046, pad=0.03)
    fig.suptitle(f"the default recipe on each set (seed {seed}): energy (dark = low) and the model's own "
                 f"gradient-descent samples (green)", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
