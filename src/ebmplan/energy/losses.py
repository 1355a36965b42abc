"""Contrastive losses as pure functions of positive energies [B] and negative energies [B, n].

Every loss lowers the energy of positives and raises that of negatives. The registry `LOSSES` maps the CLI
names to functions with the signature `loss(e_pos, e_neg, *, margin, temperature, l2) -> scalar`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import choose

Loss = Callable[..., torch.Tensor]


def margin(e_pos, e_neg, *, margin=1.0, **_):
    """The seed's margin ranking loss, per negative and averaged: mean_{b,j} max(0, E+_b - E-_bj + m)."""
    return F.relu(e_pos[:, None] - e_neg + margin).mean()


def hinge(e_pos, e_neg, *, margin=1.0, **_):
    """Hinge against the most offending negative (lowest energy): mean_b max(0, E+_b - min_j E-_bj + m)."""
    return F.relu(e_pos - e_neg.min(dim=1).values + margin).mean()


def log(e_pos, e_neg, **_):
    """Log loss (softplus of the energy gap): mean_{b,j} log(1 + exp(E+_b - E-_bj)).

    With uniform negatives this is noise-contrastive estimation: its optimum is E = -log p_data + const.
    """
    return F.softplus(e_pos[:, None] - e_neg).mean()


def square_square(e_pos, e_neg, *, margin=1.0, **_):
    """Square-square loss: mean_b E+_b^2 + mean_{b,j} max(0, m - E-_bj)^2. Energies settle in [0, m]."""
    return e_pos.pow(2).mean() + F.relu(margin - e_neg).pow(2).mean()


def square_exp(e_pos, e_neg, **_):
    """Square-exponential loss: mean_b E+_b^2 + mean_{b,j} exp(-E-_bj)."""
    return e_pos.pow(2).mean() + torch.exp(-e_neg).mean()


def infonce(e_pos, e_neg, *, temperature=1.0, **_):
    """InfoNCE: cross-entropy of softmax(-[E+, E-_1..n] / T) with the positive in column 0."""
    logits = -torch.cat([e_pos[:, None], e_neg], dim=1) / temperature  # [B, 1+n]
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def cd(e_pos, e_neg, *, l2=0.1, **_):
    """Contrastive divergence: mean E+ - mean E- + l2 * mean(E+^2 + E-^2); the L2 term keeps energies bounded."""
    return e_pos.mean() - e_neg.mean() + l2 * (e_pos.pow(2).mean() + e_neg.pow(2).mean())


LOSSES: dict[str, Loss] = {"margin": margin, "hinge": hinge, "log": log, "square-square": square_square,
                           "square-exp": square_exp, "infonce": infonce, "cd": cd}


def get_loss(name: str) -> Loss:
    return LOSSES[choose("loss", name, LOSSES)]
