"""predictions.png: each model's answers at held-out x over the true curve, with the energy F(y | x) behind."""

from __future__ import annotations

from pathlib import Path

import torch

from ..energy.models import EnergyModel
from ..points.plots import plt
from .task import Pairs


@torch.no_grad()
def energy_grid(energy: EnergyModel, low: torch.Tensor, high: torch.Tensor,
                resolution: int = 160) -> torch.Tensor:
    """F(y | x) on a grid over the plane, shifted so each column (each x) has minimum 0: [R_y, R_x]."""
    device = next(energy.parameters()).device
    xs = torch.linspace(low[0].item(), high[0].item(), resolution, device=device)
    ys = torch.linspace(low[1].item(), high[1].item(), resolution, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    e = energy(gy.reshape(-1, 1), gx.reshape(-1, 1)).reshape(resolution, resolution)
    return (e - e.min(0, keepdim=True).values).cpu()  # p(y | x) is what a column shows


def save_figure(path: Path, energy: EnergyModel, pairs: Pairs, answers: dict[str, dict],
                results: dict[str, dict]) -> None:
    """One panel per model: its answers at held-out x over the true curve (all in grey, the converged ones in
    green); the energy F(y | x) behind."""
    low = torch.tensor([pairs.curve[:, 0].min() - 0.2, pairs.box[0][0].item()])
    high = torch.tensor([pairs.curve[:, 0].max() + 0.2, pairs.box[1][0].item()])
    e = energy_grid(energy, low, high)
    extent = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
    titles = {"conditional": "conditional EBM F(y | x), all minima",
              "latent": "latent EBM F(y | x, z), one per z",
              "deterministic": "conditional EBM, lowest minimum only", "regressor": "MSE regressor"}
    fig, axes = plt.subplots(1, len(titles), figsize=(4.2 * len(titles), 4.4))
    xs = pairs.x_eval[:, 0].cpu()
    for ax, (kind, title) in zip(axes, titles.items(), strict=True):
        ax.imshow(e.clamp(max=float(torch.quantile(e, 0.9))).numpy(), origin="lower", extent=extent,
                  cmap="magma", aspect="auto", alpha=0.9)
        ax.plot(*pairs.curve.T, c="#1f77b4", lw=0.8, label="true curve")
        for view, colour, label in (("all_answers", "#bbbbbb", "all answers"),
                                    ("converged_answers", "#2ca02c", "converged answers")):
            px = torch.cat([xi.expand(len(a)) for xi, a in zip(xs, answers[kind][view], strict=True)])
            py = torch.cat([a.reshape(-1) for a in answers[kind][view]])
            ax.scatter(px.numpy(), py.numpy(), s=4, c=colour, linewidths=0, label=label)
        a, c = results[kind]["all_answers"], results[kind]["converged_answers"]
        ax.set_title(f"{title}\nall: precision {a['precision']:.3f}, mode coverage {a['mode_coverage']:.2f}\n"
                     f"converged: precision {c['precision']:.3f}, mode coverage {c['mode_coverage']:.2f}",
                     fontsize=8)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        ax.set_xlabel("x (condition)")
    axes[0].set_ylabel("y (predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
