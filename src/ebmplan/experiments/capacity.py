"""The capacity study: the spiral's energy landscape as a depth-3 network widens (the seed's headline figure).

A preset sweep of `ebmplan spiral` over widths and seeds, then two figures in the sweep folder:
- `capacity.png`: one landscape per width in a row with the model's own samples on it, each from one chosen
  seed (`--panel-seed`, default 0, not the best one); a width whose run failed is an empty panel saying so;
- `capacity_metrics.png`: precision, coverage and held-out NLL against width, each seed a dot and the mean ±
  std over seeds a line, failed widths marked.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import tyro

from ..common.errors import ConfigError
from ..common.files import write_json
from ..common.runs import config_record, resumed_config
from ..points.plots import colorbar, draw_landscape, plt
from ..points.train import load_energy_run
from .sweep import SweepConfig, SweepResult, parse_seeds, plan, run_command, run_sweep


@dataclass
class CapacityConfig:
    """The capacity study: spiral landscapes and metrics against the width of a depth-3 energy network."""

    widths: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    """hidden widths, e.g. --widths 8 16 32 (or 8,16,32)"""
    seeds: tuple[int, ...] = (0, 1, 2)
    """seeds, e.g. --seeds 0 1 2 (or 0,1,2)"""
    depth: int = 3
    """hidden layers of every network"""
    set: Annotated[list[str], tyro.conf.UseAppendAction] = field(default_factory=list)
    """a fixed spiral setting for every run, e.g. steps=1000; repeatable"""
    panel_seed: int = 0
    """the seed whose landscape is drawn for each width in capacity.png"""
    out: str | None = None
    """sweep folder (None: runs/capacity-<hash of the settings>, so the same study run again resumes)"""
    backend: str = "local"
    """local (a pool of processes on this machine) or ray (one Ray task per run)"""
    address: str | None = None
    """Ray cluster address (None: start a local Ray on this machine)"""
    workers: int = 0
    """runs at once (0 = one per CPU core)"""
    resume: str | None = None
    """continue this capacity folder with its saved settings: complete runs are reused, interrupted ones resume
    from their checkpoints, the rest run"""



def run_capacity(cfg: CapacityConfig, commands: Mapping[str, Any]) -> SweepResult:
    """Run the sweep of `commands["spiral"]` (the command registry's; complete runs are skipped, interrupted
    ones resumed), draw both figures, and return the sweep's results. With `cfg.resume`, the settings are
    those saved in that capacity folder's config.json."""
    cfg = resumed_config(cfg, "capacity", strict=True)
    if cfg.panel_seed not in parse_seeds(cfg.seeds):
        raise ConfigError(f"--panel-seed {cfg.panel_seed} is not one of the seeds {' '.join(map(str, cfg.seeds))}")
    fixed = [f"depth={cfg.depth}", *cfg.set]
    widths = ",".join(map(str, cfg.widths))
    out = cfg.resume or cfg.out or str(Path("runs") / ("capacity-" + hashlib.sha1(
        json.dumps([widths, fixed]).encode()).hexdigest()[:8]))  # the same name as when widths were a string
    sweep = SweepConfig(command="spiral", grid=[f"width={widths}"], seeds=cfg.seeds, set=fixed, out=out,
                        backend=cfg.backend, address=cfg.address, workers=cfg.workers)
    _, _, runs, path = plan(sweep, commands)  # every bad setting is reported before any work starts
    path.mkdir(parents=True, exist_ok=True)
    if not cfg.resume:
        write_json(path / "config.json", config_record("capacity", "capacity", {**vars(cfg), "out": out}))
    for r in runs:  # a run cut short after a checkpoint continues from it (the sweep would start it afresh)
        folder = path / r.name
        if (folder / "checkpoint.pt").is_file() and not (folder / "metrics.json").is_file():
            print(f"resuming {folder}", flush=True)
            record = run_command(commands["spiral"].run, type(r.config)(resume=str(folder)))
            (path / "records").mkdir(exist_ok=True)
            write_json(path / "records" / f"{r.name}.json", record)
    result = run_sweep(sweep, commands)
    draw_landscapes(result, cfg.panel_seed, result.path / "capacity.png")
    draw_metrics(result, result.path / "capacity_metrics.png")
    print(f"\n{(result.path / 'results.md').read_text()}\nfigures: {result.path / 'capacity.png'}, "
          f"{result.path / 'capacity_metrics.png'}")
    return result


def _widths(result: SweepResult) -> list[int]:
    return sorted({row["width"] for row in result.rows})


def draw_landscapes(result: SweepResult, seed: int, path: Path) -> None:
    """`landscapes_figure`, saved to `path`."""
    fig = landscapes_figure(result, seed)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def landscapes_figure(result: SweepResult, seed: int):
    """One landscape per width in a row, from run `seed` of each width, each with its own colour bar (every
    model's energy has its own scale); a failed run is a marked panel. Returns the figure."""
    widths = _widths(result)
    fig, axes = plt.subplots(1, len(widths), figsize=(3.1 * len(widths), 3.1), squeeze=False, layout="constrained")
    for ax, width in zip(axes[0], widths, strict=True):
        row = next(r for r in result.rows if r["width"] == width and r["seed"] == seed)
        if row["status"] == "ok":
            run = load_energy_run(result.path / row["run"])
            samples = torch.from_numpy(np.load(result.path / row["run"] / "samples.npy"))[:1000]  # [n, 2]
            title = f"width {width}\nprecision {row['precision']:.3f}, coverage {row['coverage']:.2f}"
            image = draw_landscape(ax, run.energy, run.data.low, run.data.high, samples=samples, title=title)
            colorbar(fig, image, ax, fraction=0.046, pad=0.03)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_facecolor("#f4f4f4")
            for spine in ax.spines.values():
                spine.set_color("#c0392b")
            ax.set_title(f"width {width}\nFAILED", fontsize=9, color="#c0392b")
            ax.text(0.5, 0.5, _wrap(row["error"].split(";")[0], 28), ha="center", va="center", fontsize=7,
                    color="#c0392b", transform=ax.transAxes)
    fig.suptitle(f"energy of a depth-3 MLP on the spiral by width (dark = low; green: the model's samples; "
                 f"seed {seed} of each width)", fontsize=10)
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)[:6])


def draw_metrics(result: SweepResult, path: Path) -> None:
    """Precision, coverage and NLL against width: seeds as dots, mean ± std as a line; failures marked."""
    widths = _widths(result)
    panels = [("precision", "precision (mean distance to the clean curve; lower is better)"),
              ("coverage", "coverage (share of the curve within 0.1; higher is better)"),
              ("nll", "held-out NLL in nats (lower is better)")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, (key, title) in zip(axes, panels, strict=True):
        means, stds, shown = [], [], []
        for width in widths:
            ok = [r[key] for r in result.rows if r["width"] == width and r["status"] == "ok" and key in r]
            ax.scatter([width] * len(ok), ok, s=12, c="#1f77b4", alpha=0.6, zorder=3)
            if ok:
                shown.append(width)
                means.append(float(np.mean(ok)))
                stds.append(float(np.std(ok, ddof=1)) if len(ok) > 1 else 0.0)
            failed = sum(r["width"] == width and r["status"] != "ok" for r in result.rows)
            if failed:
                ax.annotate(f"{failed} failed", (width, 0), xycoords=("data", "axes fraction"), xytext=(0, 4),
                            textcoords="offset points", ha="center", fontsize=7, color="#c0392b")
                ax.axvline(width, color="#c0392b", alpha=0.3, lw=1)
        ax.errorbar(shown, means, yerr=stds, color="#1f77b4", capsize=3, marker="o", ms=4, zorder=2)
        if key == "nll":
            uniform = [r["nll_uniform"] for r in result.rows if r["status"] == "ok" and "nll_uniform" in r]
            if uniform:
                ax.axhline(uniform[0], color="grey", ls="--", lw=1, label="uniform on the box")
                ax.legend(fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths)
        ax.set_xticklabels([str(w) for w in widths])
        ax.set_xlabel("width")
        ax.set_title(title, fontsize=9)
    n_seeds = len({r["seed"] for r in result.rows})
    fig.suptitle(f"depth-3 MLP energy on the spiral: {n_seeds} seeds per width (dots), mean ± std (line)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
