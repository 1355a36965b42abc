"""Figures: energy landscapes over the plane, with data and samples drawn on them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .metrics import grid_energies  # noqa: E402


def draw_landscape(ax, energy, low: torch.Tensor, high: torch.Tensor, *, resolution: int = 200,
                   data: torch.Tensor | None = None, samples: torch.Tensor | None = None, title: str = ""):
    """Energy as a heat map (dark = low energy), clipped to its 1st-70th percentile: the low-energy valleys
    get the whole colour range, the far corners saturate. Returns the image, for `colorbar`."""
    e, _ = grid_energies(energy, low, high, resolution)
    lo_e, hi_e = torch.quantile(e.flatten(), torch.tensor([0.01, 0.7])).tolist()
    extent = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
    image = ax.imshow(e.clamp(lo_e, hi_e).numpy(), origin="lower", extent=extent, cmap="magma", aspect="equal")
    if data is not None:
        ax.scatter(*data[:1000].T.numpy(), s=1, c="#8ecae6", alpha=0.7, label="data", linewidths=0)
    if samples is not None:
        ax.scatter(*samples.T.numpy(), s=1.5, c="#39ff14", alpha=0.9, label="samples", linewidths=0)
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return image


def colorbar(fig, image, ax, **kwargs):
    """The colour bar of a landscape drawn by `draw_landscape`, labelled "energy"; its arrows say that the
    energies beyond the clipped range share the end colours. `ax`: the panel (or panels) it belongs to."""
    bar = fig.colorbar(image, ax=ax, extend="both", **kwargs)
    bar.set_label("energy", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def landscape_figure(energy, low, high, *, data=None, samples=None, title: str = ""):
    """Two panels: the bare landscape, and the same with the data (light blue) and inferred samples (green);
    one colour bar, as both panels draw the same energy on the same scale. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.6), layout="constrained")
    image = draw_landscape(axes[0], energy, low, high, title="energy F(x) (dark = low)")
    draw_landscape(axes[1], energy, low, high, data=data, samples=samples,
                   title="data (light blue) and gradient-descent samples (green)")
    colorbar(fig, image, list(axes), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_landscape(path: Path, energy, low, high, *, data=None, samples=None, title: str = "") -> None:
    """`landscape_figure`, saved to `path`."""
    fig = landscape_figure(energy, low, high, data=data, samples=samples, title=title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
