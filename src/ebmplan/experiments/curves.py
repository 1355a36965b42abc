"""Training curves: the metrics.csv of one or several run folders drawn into one figure (`ebmplan plot`).

Every run kind that logs training writes `metrics.csv`, a header then one row per logged step, `step` first
(`spiral`/`train`: loss, energy_pos, energy_neg, energy_gap, seconds; `maze train`: critic_loss, actor_loss,
train_success, ...), or `model,step,...` for a run that trains several models (`conditional`, `video`). The
figure has one panel per metric, one line per run labelled by its folder's name (per model of such a run:
`<folder>: <model>`), against the step.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro

from ..common.errors import ConfigError
from ..points.plots import plt

CLOCKS = ("seconds", "cpu_seconds")  # wall and CPU time: columns, but not drawn unless asked for


@dataclass
class PlotConfig:
    """Draw the training curves of run folders (their metrics.csv): one panel per metric, one line per run."""

    runs: Annotated[list[str], tyro.conf.Positional, tyro.conf.arg(metavar="RUN [RUN ...]",
                                                                         help_behavior_hint="(required)")] = field(
        default_factory=list)
    """run folders holding a metrics.csv (spiral, train, maze train, conditional and video runs, compare's
    method folders)"""
    out: str | None = None
    """figure file, .png (or .pdf, .svg), its folder made if missing (None: runs/plot-<time>.png)"""
    metrics: str | None = None
    """comma-separated metrics to draw, e.g. loss,energy_gap; a unique suffix is enough (gap for energy_gap)
    (None: every metric all runs have, except the clocks seconds and cpu_seconds)"""


@dataclass
class Curves:
    """One line per column of a run's metrics.csv (of one of its models): its label, the run's label, and
    each column's values, `step` among them."""

    name: str
    run: str
    columns: dict[str, list[float]]


def read_curves(run: Path, label: str | None = None) -> list[Curves]:
    """The curves in the metrics.csv of run folder `run`, or a ConfigError saying why there are none: one
    `Curves` named `label` (default: the folder's name), or, for a log of several models (header
    `model,step,...`: conditional and video runs), one per model named `<label>: <model>`. A row cut short (a
    run killed mid-write) or holding a non-number is skipped."""
    path = run / "metrics.csv"
    if not run.is_dir():
        raise ConfigError(f"run folder {run} does not exist" if not run.exists() else f"{run} is not a folder")
    if not path.is_file():
        inside = sorted(str(p.parent) for p in run.glob("*/metrics.csv"))
        more = f" and {len(inside) - 2} more" if len(inside) > 2 else ""
        hint = (f"; its sub-folders do: give those, e.g. {' '.join(inside[:2])}{more}" if inside else
                "; training curves are written by spiral, train, maze train, conditional and video runs")
        raise ConfigError(f"{run} has no metrics.csv{hint}")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0] if rows else []
    models = header[:1] == ["model"]
    if header[models:models + 1] != ["step"]:
        raise ConfigError(f"{path} is not a metrics log (its header must start with 'step' or 'model,step')")
    label = label or run.resolve().name
    names = header[models:]
    curves: dict[str, Curves] = {}
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        try:
            values = [float(v) for v in row[models:]]
        except ValueError:
            continue
        name = f"{label}: {row[0]}" if models else label
        columns = curves.setdefault(name, Curves(name, label, {c: [] for c in names})).columns
        for column, v in zip(names, values, strict=True):
            columns[column].append(v)
    return list(curves.values()) or [Curves(label, label, {c: [] for c in names})]


def choose_metrics(runs: list[Curves], wanted: str | None) -> list[str]:
    """The metrics to draw: those named in `wanted` (exact column names, or a suffix after '_' that matches
    one column), by default every column all runs share except step and the clocks."""
    common = [c for c in runs[0].columns if c != "step" and all(c in r.columns for r in runs)]
    if not (common if wanted else [c for c in common if c not in CLOCKS]):
        clocks = f" but the clock {' and '.join(common)}" if common else ""
        labels = ", ".join(dict.fromkeys(r.run for r in runs))
        raise ConfigError(f"the runs {labels} have no metric in common{clocks}; plot them separately")
    if wanted is None:
        return [c for c in common if c not in CLOCKS]
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    if not names:
        raise ConfigError(f"--metrics names no metric; choose from: {', '.join(common)}")
    chosen = []
    for name in names:
        matches = [name] if name in common else [c for c in common if c.endswith("_" + name)]
        if len(matches) != 1:
            what = "is ambiguous" if matches else "is not a metric of every run"
            raise ConfigError(f"--metrics {name!r} {what}; choose from: {', '.join(common)}")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _labels(paths: list[Path]) -> list[str]:
    """Each run's folder name; where two runs share one, their parent's name too (`a/contrastive`)."""
    names = [p.resolve().name for p in paths]
    return [f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]


def draw_curves(runs: list[Curves], metrics: list[str]):
    """The figure: one panel per metric (up to 3 per row), one line per run, x = step. Returns the figure."""
    cols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.2 * nrows), squeeze=False, layout="constrained")
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for run in runs:
            steps, values = run.columns["step"], run.columns[metric]
            ax.plot(steps, values, lw=1.2, marker="o" if len(steps) < 3 else None, ms=3, label=run.name)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    if len(runs) <= 3:
        axes.flat[0].legend(fontsize=8)
    else:  # many lines: one legend beneath every panel, not over one of them
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncol=2 * cols,
                   fontsize=8, frameon=False)
    return fig


def plot_runs(cfg: PlotConfig) -> Path:
    """Read every run's metrics.csv, check the metrics, draw the figure to `cfg.out`; return its path."""
    if not cfg.runs:
        raise ConfigError("give at least one run folder: ebmplan plot RUN [RUN ...]")
    paths = [Path(r) for r in cfg.runs]
    runs = [c for p, label in zip(paths, _labels(paths), strict=True) for c in read_curves(p, label)]
    metrics = choose_metrics(runs, cfg.metrics)
    out = Path(cfg.out) if cfg.out else Path("runs") / f"plot-{time.strftime('%Y%m%d-%H%M%S')}.png"
    fig = draw_curves(runs, metrics)
    supported = fig.canvas.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in supported:
        plt.close(fig)
        raise ConfigError(f"--out {out} must end in a figure type: .png, .pdf or .svg")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as err:
        raise ConfigError(f"figure {out} cannot be written ({err.strerror})") from None
    finally:
        plt.close(fig)
    print(f"figure: {out} ({', '.join(metrics)} of {len(paths)} run{'s' if len(paths) > 1 else ''})")
    return out
