"""The three models (conditional energy, latent energy, MSE regressor) and the loop that trains each."""

from __future__ import annotations

import time
from functools import partial

import torch
from torch import nn

from ..common.monitor import ScalarLog, progress
from ..energy.contrastive import ContrastiveStep, pair_energies
from ..energy.latent import LatentEnergy, latent_energies
from ..energy.models import EnergyModel, FiLMEnergy, MLPEnergy
from ..energy.negatives import parse_negatives
from ..energy.nets import mlp
from ..energy.step import GradientStep
from .config import ConditionalConfig
from .task import Pairs


def regressor(width: int, depth: int, activation: str) -> nn.Module:
    """An MLP x [B, 1] -> y [B, 1] with the energies' layer sizes (one input fewer)."""
    return mlp(1, 1, width=width, depth=depth, activation=activation)


def conditional_energy(cfg: ConditionalConfig) -> EnergyModel:
    """F(y | x) with the configured fusion of x and y."""
    if cfg.fusion == "film":
        return FiLMEnergy(1, context_dim=1, width=cfg.width, depth=cfg.depth, activation=cfg.activation)
    return MLPEnergy(1, width=cfg.width, depth=cfg.depth, activation=cfg.activation, context_dim=1)


def train_model(model: nn.Module, pairs: Pairs, cfg: ConditionalConfig, kind: str,
                log: ScalarLog | None = None) -> list[float]:
    """Train one model (`kind`: conditional, latent or regressor) in place; return the loss per 100 steps (and
    at the last), also written to `log` (metrics.csv rows `kind,step,loss,seconds`) when given."""
    update = GradientStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), what=f"{kind} model",
                          grad_clip=cfg.grad_clip)
    contrast = None
    if kind != "regressor":
        spec = cfg.negatives if kind == "conditional" else cfg.latent_negatives
        negatives = parse_negatives(spec, pairs.box, perturb_sigma=cfg.perturb_sigma, hard_size=cfg.hard_size,
                                    hard_alpha=cfg.hard_alpha, hard_pool=cfg.hard_pool)
        # The latent energy scores the negatives under the positive's latent and their own ([B, 2n]).
        energies = (partial(latent_energies, own_latent=cfg.latent_own_negatives) if kind == "latent"
                    else pair_energies)
        contrast = ContrastiveStep(model, update, negatives, cfg.make_loss(), n_negatives=cfg.n_negatives,
                                   margin=cfg.margin, energies=energies)
    device = pairs.x.device
    history = []
    t0 = time.perf_counter()
    for step in progress(range(cfg.steps), desc=f"train {kind}"):
        idx = torch.randint(len(pairs.x), (cfg.batch_size,), device=device)
        x, y = pairs.x[idx], pairs.y[idx]  # [B, 1], [B, 1]
        if contrast is None:
            loss = (model(x) - y).pow(2).mean()
            update(loss, step + 1)
        else:
            loss = contrast(y, step + 1, context=x).loss
        if (step + 1) % 100 == 0 or step + 1 == cfg.steps:
            history.append(loss.item())
            if log is not None:
                log.write(step + 1, {"loss": history[-1], "seconds": f"{time.perf_counter() - t0:.3f}"}, model=kind)
    return history


def build_models(cfg: ConditionalConfig) -> dict[str, nn.Module]:
    """The three untrained models, by kind."""
    return {
        "conditional": conditional_energy(cfg),
        "latent": LatentEnergy(1, context_dim=1, latent_dim=cfg.latent_dim, width=cfg.width, depth=cfg.depth,
                               activation=cfg.activation, candidates=cfg.latent_candidates,
                               latent_steps=cfg.latent_steps),
        "regressor": regressor(cfg.width, cfg.depth, cfg.activation),
    }
