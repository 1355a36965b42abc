"""The figures of an images run: a grid of samples (test images, the persistent buffer, fresh noise) and a
histogram of energies (held-out test images against animal silhouettes and uniform noise)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _grid(images: torch.Tensor, columns: int) -> np.ndarray:
    """Images [N, H, W] tiled into one array, `columns` per row, with a 1-pixel grey gutter."""
    n, h, w = images.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1), 0.5)
    for i, img in enumerate(images.cpu().numpy()):
        r, c = divmod(i, columns)
        out[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = img
    return out


def save_samples(path: Path, panels: dict[str, torch.Tensor], *, columns: int = 8) -> None:
    """One panel per named image set [N, H, W] (the first columns**2 of each), side by side."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, images) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        ax.imshow(_grid(images[: columns * columns], columns), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_energy_histogram(path: Path, energies: dict[str, torch.Tensor]) -> None:
    """Overlaid histograms of named energy sets [N], on shared bins."""
    values = {k: v.detach().cpu().numpy() for k, v in energies.items()}
    everything = np.concatenate(list(values.values()))
    bins = np.linspace(np.percentile(everything, 0.5), np.percentile(everything, 99.5), 60)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, v in values.items():
        ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, alpha=0.5, density=True, label=f"{name} ({len(v)})")
    ax.set_xlabel("energy (clipped to the 0.5-99.5 percentile range)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
