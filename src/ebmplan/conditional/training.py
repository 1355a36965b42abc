"""The three models (conditional energy, latent energy, MSE regressor) and the loop that trains each."""

from __future__ import annotations

import time

import torch
from torch import nn

from ..common.monitor import ScalarLog, progress
from ..energy.latent import LatentEnergy, latent_energies
from ..energy.models import ACTIVATIONS, EnergyModel, FiLMEnergy, MLPEnergy
from ..energy.negatives import parse_negatives
from ..energy.step import GradientStep
from .config import ConditionalConfig
from .task import Pairs


def regressor(width: int, depth: int, activation: str) -> nn.Module:
    """An MLP x [B, 1] -> y [B, 1] with the energies' layer sizes (one input fewer)."""
    act = ACTIVATIONS[activation]
    sizes = [1] + [width] * depth
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), act()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


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
    loss_fn = cfg.make_loss()
    negatives = None
    if kind != "regressor":
        spec = cfg.negatives if kind == "conditional" else cfg.latent_negatives
        negatives = parse_negatives(spec, pairs.box, perturb_sigma=cfg.perturb_sigma, hard_size=cfg.hard_size,
                                    hard_alpha=cfg.hard_alpha, hard_pool=cfg.hard_pool)
    device = pairs.x.device
    history = []
    t0 = time.perf_counter()
    for step in progress(range(cfg.steps), desc=f"train {kind}"):
        idx = torch.randint(len(pairs.x), (cfg.batch_size,), device=device)
        x, y = pairs.x[idx], pairs.y[idx]  # [B, 1], [B, 1]
        if negatives is None:
            loss = (model(x) - y).pow(2).mean()
        else:
            neg = negatives.sample(y, cfg.n_negatives, model, x)  # [B, n, 1]
            if kind == "latent":
                # [B], [B, 2n] (or [B, n]), [B, n]
                e_pos, e_neg, e_seen = latent_energies(model, y, x, neg, own_latent=cfg.latent_own_negatives)
            else:
                e_pos, e_neg = model(y, x), model.energies(neg, x)  # [B], [B, n]
                e_seen = e_neg
            loss = loss_fn(e_pos, e_neg)
        update(loss, step + 1)
        if negatives is not None:
            negatives.observe(neg, e_seen.detach(), e_pos.detach(), cfg.margin)
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
