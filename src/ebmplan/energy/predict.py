"""Prediction with a conditional energy: y_hat = argmin_y F(y | c), from several random starts per context.

A multi-valued relation has several minima per context; descending from `starts` random points per row
finds them, and `answers` returns each row's distinct converged ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .inference import descend
from .models import EnergyModel
from .negatives import Box, uniform_in


@dataclass
class Prediction:
    """Every start's end point, its energy and whether it converged, per context row."""

    samples: torch.Tensor  # [B, K, D]
    energy: torch.Tensor  # [B, K]
    converged: torch.Tensor  # [B, K] bool

    def answers(self, row: int, *, radius: float = 0.05, converged_only: bool = True) -> torch.Tensor:
        """Row `row`'s distinct answers [M, D], lowest energy first; answers within `radius` of a kept
        one are duplicates of it. If no start converged, the lowest-energy end point is returned."""
        keep = self.converged[row] if converged_only else torch.ones_like(self.converged[row])
        if not keep.any():
            keep = self.energy[row] == self.energy[row].min()
        return distinct(self.samples[row][keep], self.energy[row][keep], radius)


def distinct(points: torch.Tensor, energy: torch.Tensor, radius: float) -> torch.Tensor:
    """Greedy deduplication: walk points [K, D] by rising energy, keep those farther than `radius` from
    every point kept so far. Returns [M, D]."""
    kept: list[torch.Tensor] = []
    for i in energy.argsort().tolist():
        if all((points[i] - k).norm() > radius for k in kept):
            kept.append(points[i])
    return torch.stack(kept) if kept else points[:0]


def predict(energy: EnergyModel, context: torch.Tensor, box: Box, *, starts: int = 16, steps: int = 300,
            step_size: float = 0.02, final_step_size: float = 0.002, schedule: str = "cosine",
            max_move: float | None = 0.05, tol: float = 1e-4) -> Prediction:
    """Minimise F(y | context) over y from `starts` uniform random points of `box` per context row [B, C]."""
    B = context.shape[0]
    y0 = uniform_in(box, (B * starts,))  # [B*K, D]
    ctx = context.repeat_interleave(starts, dim=0)  # [B*K, C]
    result = descend(energy, y0, context=ctx, steps=steps, step_size=step_size,
                     final_step_size=final_step_size, schedule=schedule, max_move=max_move, tol=tol, box=box)
    with torch.no_grad():
        e = energy(result.samples, ctx)  # [B*K]
    return Prediction(samples=result.samples.reshape(B, starts, -1), energy=e.reshape(B, starts),
                      converged=result.converged.reshape(B, starts))
