"""Inference: batched gradient descent on the free variable until it converges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import choose
from .models import EnergyModel

SCHEDULES = ("constant", "cosine", "exponential")


@dataclass
class Descent:
    """What inference returns: every sample, converged or not, with the steps each one took."""

    samples: torch.Tensor  # [B, D]
    converged: torch.Tensor  # [B] bool: the last move was shorter than `tol`
    steps: torch.Tensor  # [B] int: steps taken before convergence (or the cap)


def step_size_at(t: int, steps: int, start: float, end: float, schedule: str) -> float:
    """Step size at step t of `steps`, moving from `start` to `end` by the named schedule."""
    if schedule == "constant" or steps <= 1:
        return start
    frac = t / (steps - 1)
    if schedule == "cosine":
        return end + 0.5 * (start - end) * (1 + math.cos(math.pi * frac))
    return start * (end / start) ** frac  # exponential


def descend(energy: EnergyModel, x0: torch.Tensor, *, context: torch.Tensor | None = None, steps: int = 200,
            step_size: float = 0.01, final_step_size: float | None = None, schedule: str = "constant",
            tol: float = 1e-4, max_move: float | None = None, box: tuple[torch.Tensor, torch.Tensor] | None = None,
            noise: float = 0.0, generator: torch.Generator | None = None) -> Descent:
    """Minimise `energy(x | context)` over x from `x0` [B, D] by gradient descent.

    Each step moves x by `-step_size * grad` (its length capped at `max_move`, then clamped into `box`).
    A sample converges when its move is shorter than `tol`; converged samples stop moving. With `noise > 0`
    this is Langevin dynamics (`+ noise * sqrt(2 * step_size) * N(0, I)`), for which convergence is judged on
    the deterministic part of the move.
    """
    choose("step-size schedule", schedule, SCHEDULES)
    final = step_size if final_step_size is None else final_step_size
    x = x0.detach().clone()
    B = x.shape[0]
    converged = torch.zeros(B, dtype=torch.bool, device=x.device)
    taken = torch.zeros(B, dtype=torch.long, device=x.device)
    was_training = energy.training
    energy.eval()
    for t in range(steps):
        active = (~converged).nonzero().squeeze(1)  # [A]
        if active.numel() == 0:
            break
        xa = x[active].requires_grad_(True)
        ctx = None if context is None else context[active]
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(energy(xa, ctx).sum(), xa)
        lr = step_size_at(t, steps, step_size, final, schedule)
        move = -lr * grad  # [A, D]
        if max_move is not None:
            move = move * (max_move / move.norm(dim=1, keepdim=True).clamp_min(max_move)).detach()
        if noise > 0:
            move = move + noise * math.sqrt(2 * lr) * torch.randn(xa.shape, generator=generator, device=x.device)
        new = xa.detach() + move
        if box is not None:
            new = torch.maximum(torch.minimum(new, box[1]), box[0])
        # A sample pressed against the box edge has stopped too: judge the move actually made.
        step_len = (new - xa.detach()).norm(dim=1) if noise == 0 else (lr * grad).norm(dim=1)
        x[active] = new
        taken[active] += 1
        converged[active] = step_len < tol
    energy.train(was_training)
    return Descent(samples=x, converged=converged, steps=taken)
