"""One contrastive update, shared by every contrastive trainer (2D points, conditional pairs, video frames, the
subgoal generator):

    neg = negatives.sample(pos, n, model, context, index)  # [B, n, D]
    e_pos, e_neg = energies(model, pos, context, neg)       # [B], [B, n]: the energy matrix [B, 1+n], positive first
    loss = loss_fn(e_pos, e_neg)                            # energy.losses
    update(loss, step, e_pos, e_neg)                        # energy.step: backward, clipping, divergence checks
    negatives.observe(neg, e_neg, e_pos, margin)            # e.g. the hard-negative buffer learns what was hard

Each trainer draws its own positives and keeps its own loop, logging and stopping; what differs between them
(how energies are computed, the number of negatives, the margin the hard buffer uses) is an argument here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .losses import Loss
from .models import EnergyModel
from .negatives import Negatives
from .step import GradientStep

# (model, positives [B, D], context [B, C] | None, negatives [B, n, D]) -> (E+ [B], E- [B, m], the E- the
# negatives source observes [B, n]); m = n except where one negative is scored more than once (latent.py).
Energies = Callable[[EnergyModel, torch.Tensor, "torch.Tensor | None", torch.Tensor],
                    tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def pair_energies(model: EnergyModel, pos: torch.Tensor, context: torch.Tensor | None,
                  neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """E(pos | c) [B] and E(neg | c) [B, n]. Without a context, one forward pass over the B + B*n rows together;
    with one, the positives under their contexts and each row's negatives under its own (`energies`, which a
    model may compute more cheaply than B*n rows)."""
    if context is None:
        B = pos.shape[0]
        e = model(torch.cat([pos, neg.reshape(-1, pos.shape[-1])]))  # [B + B*n]
        e_pos, e_neg = e[:B], e[B:].reshape(B, -1)  # [B], [B, n]
    else:
        e_pos, e_neg = model(pos, context), model.energies(neg, context)  # [B], [B, n]
    return e_pos, e_neg, e_neg


@dataclass
class Contrast:
    """What one step used and found, detached: positives [B, D], negatives [B, n, D], the loss, E+ [B], E- [B, m]."""

    pos: torch.Tensor
    neg: torch.Tensor
    loss: torch.Tensor
    e_pos: torch.Tensor
    e_neg: torch.Tensor

    @property
    def energies(self) -> torch.Tensor:
        """The energy matrix [B, 1+m], the positive in column 0."""
        return torch.cat([self.e_pos[:, None], self.e_neg], dim=1)


class ContrastiveStep:
    """`step(pos, step, context=None, index=None) -> Contrast`: one contrastive update of `model`.

    `negatives`: any `Negatives` source; `n_negatives` per positive; `loss`: from `losses.make_loss`; `update`:
    the model's `GradientStep` (its divergence checks see the loss and both energies); `margin`: what the
    negatives' `observe` is told (the hard buffer's threshold is mean E+ + margin); `energies`: how the energies
    are computed (`pair_energies`, or `latent.latent_energies` for a latent-variable energy).
    """

    def __init__(self, model: EnergyModel, update: GradientStep, negatives: Negatives, loss: Loss, *,
                 n_negatives: int, margin: float = 1.0, energies: Energies = pair_energies):
        self.model, self.update, self.negatives, self.loss = model, update, negatives, loss
        self.n_negatives, self.margin, self.energies = n_negatives, margin, energies

    def __call__(self, pos: torch.Tensor, step: int, context: torch.Tensor | None = None,
                 index: torch.Tensor | None = None) -> Contrast:
        """Positives `pos` [B, D] (rows `index` [B] of the training set, for sources that need it) under
        `context` [B, C]; `step` counts from 1 and is named by a divergence."""
        neg = self.negatives.sample(pos, self.n_negatives, self.model, context, index)  # [B, n, D]
        e_pos, e_neg, e_seen = self.energies(self.model, pos, context, neg)  # [B], [B, m], [B, n]
        loss = self.loss(e_pos, e_neg)
        self.update(loss, step, e_pos, e_neg)
        e_pos, e_neg = e_pos.detach(), e_neg.detach()
        self.negatives.observe(neg, e_seen.detach(), e_pos, self.margin)
        return Contrast(pos, neg, loss.detach(), e_pos, e_neg)
