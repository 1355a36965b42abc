"""Compare every kind of energy on one data set: one sub-run per method, one table, one figure.

`compare(cfg)` trains the contrastive model (default recipe) and fits PCA, k-means and the sparse autoencoder
(`energy/architectural.py`) into `<out>/<method>/` run folders, each measured the same way (`train.measure`:
gradient descent from uniform noise, then docs/protocol.md §2 metrics). It writes `compare.md` (the table),
`compare.json` (every method's metrics) and `compare.png` (the landscapes side by side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..common.config import split_names
from ..common.errors import ConfigError, choose
from ..common.files import write_json
from ..common.runs import resolve_device, resumed_config, run_folder
from ..energy.architectural import METHODS
from ..points import plots
from ..points.train import TrainConfig, load_energy_run, train

COLUMNS = ("precision", "coverage", "nll", "nll_uniform", "mmd", "mmd_floor", "train_seconds")


@dataclass
class CompareConfig:
    """Train a contrastive energy and fit PCA, k-means and a sparse autoencoder on one data set; compare."""

    data: str = "spiral"
    """named data set (spiral, moons, rings, 8gaussians, checkerboard, pinwheel, swissroll) or a point file"""
    out: str | None = None
    """compare folder, holding one run folder per method (None: runs/compare-<time>)"""
    methods: tuple[str, ...] = METHODS
    """methods to compare: contrastive, pca, kmeans, sparse-ae (e.g. --methods pca kmeans, or pca,kmeans)"""
    seed: int = 0
    """seed of every sub-run"""
    steps: int | None = None
    """training steps of contrastive and sparse-ae, Lloyd iteration cap of kmeans (None: train's)"""
    n_samples: int = 2000
    """samples drawn by inference for each method's metrics"""
    device: str = "cpu"
    """auto, cpu or cuda"""
    overwrite: bool = False
    """replace an existing compare folder"""
    resume: str | None = None
    """continue this compare folder with its saved settings: complete methods are reused, an interrupted one
    resumes, the rest train"""

    def method_list(self) -> list[str]:
        names = list(split_names(self.methods))
        if not names:
            raise ConfigError(f"--methods names no method; use some of: {', '.join(METHODS)}")
        for name in names:
            choose("method", name, METHODS)
        if len(set(names)) != len(names):
            raise ConfigError(f"--methods names a method twice: {' '.join(names)}")
        return names

    def train_config(self, method: str, out: Path | None = None) -> TrainConfig:
        """The sub-run's config: train's defaults, with this comparison's data, seed and budget."""
        cfg = TrainConfig(data=self.data, out=None if out is None else str(out), seed=self.seed,
                          method=method, n_samples=self.n_samples, device=self.device)
        if self.steps is not None:
            cfg.steps = self.steps
        return cfg


def compare(cfg: CompareConfig, *, command: str = "compare") -> Path:
    """Run every method into `<out>/<method>/`, then write compare.md, compare.json and compare.png.

    With `cfg.resume`, continue that compare folder with its saved settings: a method whose sub-run is complete
    (its metrics.json exists) is reused, one with a checkpoint resumes (`train --resume`), the rest train."""
    cfg = resumed_config(cfg, "compare", strict=True)
    methods = cfg.method_list()
    for method in methods:
        cfg.train_config(method).validate()  # every bad value is reported before any work starts
    run = run_folder(cfg, "compare", command, resolve_device(cfg.device))
    results = {}
    for method in methods:
        folder = run / method
        if cfg.resume and (folder / "metrics.json").is_file():
            print(f"{method}: reusing {folder}", flush=True)
        elif cfg.resume and (folder / "checkpoint.pt").is_file():
            print(f"{method}: resuming {folder}", flush=True)
            train(TrainConfig(resume=str(folder)), command=f"{command} {method}")
        else:
            sub = cfg.train_config(method, folder)
            sub.overwrite = bool(cfg.resume)  # a sub-run cut short before its first checkpoint starts afresh
            train(sub, command=f"{command} {method}")
        results[method] = load_energy_run(folder).metrics
    table = markdown_table(results)
    write_json(run / "compare.json", results)
    (run / "compare.md").write_text(f"# Energies compared on {cfg.data} (seed {cfg.seed})\n\n{table}\n\n"
                                    f"![landscapes](compare.png)\n")
    save_compare_figure(run / "compare.png", run, methods)
    print(table)
    return run


def markdown_table(results: dict[str, dict]) -> str:
    """One row per method, the docs/protocol.md §2 metrics as columns ('-' where a metric does not apply)."""
    rows = ["| method | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for method, m in results.items():
        cells = [_cell(m.get(c)) for c in COLUMNS]
        rows.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cell(value) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def save_compare_figure(path: Path, run: Path, methods: list[str]) -> None:
    """`compare_figure`, saved to `path` (nothing for data that is not 2D)."""
    fig = compare_figure(run, methods)
    if fig is not None:
        fig.savefig(path, dpi=110)
        plots.plt.close(fig)


def compare_figure(run: Path, methods: list[str]):
    """Every method's landscape side by side, with the data (blue) and gradient-descent samples (green), each
    with its own colour bar (the methods' energies have different scales). Returns the figure, or None when
    the data is not 2D."""
    loaded = [load_energy_run(run / m) for m in methods]
    if loaded[0].data.dim != 2:
        return None  # landscapes are drawn over the plane only
    fig, axes = plots.plt.subplots(1, len(methods), figsize=(4.1 * len(methods), 3.9), squeeze=False,
                                   layout="constrained")
    for ax, method, r in zip(axes[0], methods, loaded, strict=True):
        samples = torch.from_numpy(np.load(r.path / "samples.npy"))
        image = plots.draw_landscape(ax, r.energy, r.data.low, r.data.high, data=r.data.train, samples=samples,
                                     title=f"{method}\nprecision {r.metrics['precision']:.3f}, "
                                           f"coverage {r.metrics['coverage']:.2f}, nll {r.metrics['nll']:.2f}")
        plots.colorbar(fig, image, ax, fraction=0.046, pad=0.03)
    return fig
