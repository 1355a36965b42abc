"""Contrastive losses as pure functions of positive energies [B] and negative energies [B, n].

Every loss lowers the energy of positives and raises that of negatives. `make_loss(name, **options)` builds
one by its CLI name with its own keyword options bound (`make_loss("cd", l2=0.5)`); an option the loss does
not take is a ConfigError, so a misspelled one is never silently ignored. `loss_options(name)` lists them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..common.errors import ConfigError, choose

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (e_pos [B], e_neg [B, n]) -> scalar


def margin(e_pos, e_neg, *, margin=1.0):
    """The seed's margin ranking loss, per negative and averaged: mean_{b,j} max(0, E+_b - E-_bj + m)."""
    return F.relu(e_pos[:, None] - e_neg + margin).mean()


def hinge(e_pos, e_neg, *, margin=1.0):
    """Hinge against the most offending negative (lowest energy): mean_b max(0, E+_b - min_j E-_bj + m)."""
    return F.relu(e_pos - e_neg.min(dim=1).values + margin).mean()


def log(e_pos, e_neg):
    """Log loss (softplus of the energy gap): mean_{b,j} log(1 + exp(E+_b - E-_bj)).

    With uniform negatives this is noise-contrastive estimation: its optimum is E = -log p_data + const.
    """
    return F.softplus(e_pos[:, None] - e_neg).mean()


def square_square(e_pos, e_neg, *, margin=1.0):
    """Square-square loss: mean_b E+_b^2 + mean_{b,j} max(0, m - E-_bj)^2. Energies settle in [0, m]."""
    return e_pos.pow(2).mean() + F.relu(margin - e_neg).pow(2).mean()


def square_exp(e_pos, e_neg):
    """Square-exponential loss: mean_b E+_b^2 + mean_{b,j} exp(-E-_bj)."""
    return e_pos.pow(2).mean() + torch.exp(-e_neg).mean()


def infonce(e_pos, e_neg, *, temperature=1.0):
    """InfoNCE: cross-entropy of softmax(-[E+, E-_1..n] / T) with the positive in column 0."""
    logits = -torch.cat([e_pos[:, None], e_neg], dim=1) / temperature  # [B, 1+n]
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def cd(e_pos, e_neg, *, l2=0.1):
    """Contrastive divergence: mean E+ - mean E- + l2 * mean(E+^2 + E-^2); the L2 term keeps energies bounded."""
    return e_pos.mean() - e_neg.mean() + l2 * (e_pos.pow(2).mean() + e_neg.pow(2).mean())


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "margin": margin, "hinge": hinge, "log": log, "square-square": square_square, "square-exp": square_exp,
    "infonce": infonce, "cd": cd}


def loss_options(name: str) -> tuple[str, ...]:
    """The keyword options of the loss `name` (e.g. `("margin",)`); a ConfigError lists the names."""
    fn = LOSSES[choose("loss", name, LOSSES)]
    return tuple(p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY)


def make_loss(name: str, **options: float) -> Loss:
    """The loss `name` with `options` bound: `loss(e_pos [B], e_neg [B, n]) -> scalar`."""
    accepted = loss_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = f"takes only {', '.join(accepted)}" if accepted else "takes no options"
        raise ConfigError(f"the {name} loss {takes}, not {', '.join(unknown)}")
    return functools.partial(LOSSES[name], **options)
