"""Latent-variable energy F(y | c, z): a latent z chooses which of several right answers the model gives.

The latent lives in the box [-1, 1]^L with a uniform prior; its regulariser R(z) is the box's indicator
(0 inside, infinite outside), so the only thing that limits what z can encode is its size L.

Training uses the best latent z* = argmin_z F(y | c, z) + R(z), found by *search*: the lowest-energy of
`candidates` prior samples, then `latent_steps` projected gradient steps. We chose search over an amortised
encoder because an encoder that sees y can pass y itself through z, which makes every y fit (collapse),
while a minimum over a small bounded latent cannot; with L = 1 or 2 the search costs a few batched forward
passes. The contrastive loss then pushes up two kinds of negatives (`latent_energies`):
- the negatives under the positive's own z*: for a fixed z only one y may fit, so z has to choose;
- the negatives under their own best latent: no z may make a wrong y fit.

Prediction samples z from the prior and minimises over y for that z; different z give different, each
sharp, answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import EnergyModel, MLPEnergy
from .negatives import Box
from .predict import Prediction, predict


class LatentEnergy(EnergyModel):
    """An MLP energy on [y, c, z]. `forward(y, c)` is the marginal energy min_z F(y | c, z) + R(z), so the
    model also works wherever a plain conditional energy does (hard negatives, inference, plots)."""

    def __init__(self, dim: int, *, context_dim: int, latent_dim: int = 1, width: int = 128, depth: int = 3,
                 activation: str = "silu", candidates: int = 16, latent_steps: int = 0,
                 latent_step_size: float = 0.05):
        super().__init__()
        self.net = MLPEnergy(dim, width=width, depth=depth, activation=activation,
                             context_dim=context_dim + latent_dim)
        self.dim, self.context_dim, self.latent_dim = dim, context_dim, latent_dim
        self.candidates, self.latent_steps, self.latent_step_size = candidates, latent_steps, latent_step_size

    def sample_prior(self, n: int) -> torch.Tensor:
        device = next(self.parameters()).device
        return 2 * torch.rand(n, self.latent_dim, device=device) - 1  # [n, L], uniform on [-1, 1]^L

    def joint(self, y: torch.Tensor, context: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """F(y | c, z) for rows y [B, D], context [B, C], z [B, L] -> [B]."""
        return self.net(y, torch.cat([context, z], dim=-1))

    def best_latent(self, y: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """z* = argmin_z F(y | c, z) over the box: best of `candidates` prior samples, then projected
        gradient steps. No gradient flows to the parameters through z*. Returns [B, L]."""
        B, M = y.shape[0], self.candidates
        z = self.sample_prior(B * M)  # [B*M, L]
        with torch.no_grad():
            e = self.joint(y.repeat_interleave(M, 0), context.repeat_interleave(M, 0), z).reshape(B, M)
        z = z.reshape(B, M, -1)[torch.arange(B, device=z.device), e.argmin(1)]  # [B, L]
        for _ in range(self.latent_steps):
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                (grad,) = torch.autograd.grad(self.joint(y.detach(), context, z).sum(), z)
            z = (z - self.latent_step_size * grad).clamp(-1, 1)
        return z.detach()

    def forward(self, y: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        # Its gradient in y is that of F(y | c, z*) with z* held fixed (the envelope theorem).
        return self.joint(y, context, self.best_latent(y, context))


def latent_energies(model: LatentEnergy, y: torch.Tensor, context: torch.Tensor, neg: torch.Tensor, *,
                    own_latent: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Energies for one contrastive step: positives y [B, D] with context [B, C], negatives neg [B, n, D].

    Returns the positive energies [B] at z*, the negative energies [B, 2n] (first n under the positive's
    z*, last n under each negative's own best latent), and the latter alone [B, n] (the marginal energies,
    which the hard-negative buffer should see). With `own_latent=False` only the first kind is used
    ([B, n] twice), which costs `candidates` times fewer forward passes.
    """
    B, n, D = neg.shape
    z = model.best_latent(y, context)  # [B, L]
    e_pos = model.joint(y, context, z)  # [B]
    flat, ctx = neg.reshape(B * n, D), context.repeat_interleave(n, 0)  # [B*n, D], [B*n, C]
    e_same = model.joint(flat, ctx, z.repeat_interleave(n, 0)).reshape(B, n)
    if not own_latent:
        return e_pos, e_same, e_same
    e_own = model.joint(flat, ctx, model.best_latent(flat, ctx)).reshape(B, n)
    return e_pos, torch.cat([e_same, e_own], dim=1), e_own


@dataclass
class LatentPrediction(Prediction):
    """One answer per latent sample: y [B, K, D] for z [B, K, L], with its energy and convergence [B, K]."""

    z: torch.Tensor | None = None


def predict_latent(model: LatentEnergy, context: torch.Tensor, box: Box, *, samples: int = 8, starts: int = 8,
                   **descent) -> LatentPrediction:
    """For each context row draw `samples` latents from the prior and answer y(z) = argmin_y F(y | c, z),
    the lowest-energy end point of `starts` descents from random y (so the answer depends on z only)."""
    B = context.shape[0]
    z = model.sample_prior(B * samples)  # [B*K, L]
    cz = torch.cat([context.repeat_interleave(samples, 0), z], dim=-1)  # [B*K, C+L]
    pred = predict(model.net, cz, box, starts=starts, **descent)  # samples [B*K, S, D]
    best = pred.energy.argmin(1)  # [B*K]
    rows = torch.arange(B * samples, device=best.device)
    return LatentPrediction(samples=pred.samples[rows, best].reshape(B, samples, -1),
                            energy=pred.energy[rows, best].reshape(B, samples),
                            converged=pred.converged[rows, best].reshape(B, samples), z=z.reshape(B, samples, -1))
