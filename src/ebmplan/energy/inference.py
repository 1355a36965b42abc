"""Inference: batched gradient descent on the free variable until it converges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..common.errors import choose
from .models import EnergyModel, input_gradient_fn

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
    taken = torch.full((B,), steps, dtype=torch.long, device=x.device)
    was_training = energy.training
    energy.eval()
    gradient = input_gradient_fn(energy)
    low, high = (None, None) if box is None else box
    # The active chains are kept compact; a chain leaves the set only on the step it converges, so the
    # per-step work is the gradient and a few element-wise ops, with no gather or scatter on most steps.
    idx = torch.arange(B, device=x.device)  # [A] rows of x still moving
    xa = x.clone()  # [A, D]
    ctx = None if context is None else context.detach()
    can_converge = tol > 0  # with tol <= 0 no chain stops: skip the test (and its sync) every step
    with torch.no_grad():
        for t in range(steps):
            lr = step_size_at(t, steps, step_size, final, schedule)
            move = gradient(xa, ctx).mul_(-lr)  # [A, D]
            done = None
            if noise > 0 and can_converge:
                done = move.norm(dim=1) < tol  # judged on the deterministic part of the move
            if max_move is not None:
                move.mul_(max_move / move.norm(dim=1, keepdim=True).clamp_min_(max_move))
            if noise > 0:
                move.add_(torch.randn(xa.shape, generator=generator, device=x.device, dtype=x.dtype),
                          alpha=noise * math.sqrt(2 * lr))
            new = xa + move
            if box is not None:
                new.clamp_(low, high)
            if noise == 0 and can_converge:
                # A sample pressed against the box edge has stopped too: judge the move actually made.
                done = (new - xa).norm(dim=1) < tol  # [A]
            xa = new
            if done is not None and done.any():
                finished = idx[done]
                x[finished] = xa[done]
                taken[finished] = t + 1
                converged[finished] = True
                keep = ~done
                idx, xa = idx[keep], xa[keep]
                ctx = None if ctx is None else ctx[keep]
                if idx.numel() == 0:
                    break
        x[idx] = xa
    energy.train(was_training)
    return Descent(samples=x, converged=converged, steps=taken)
