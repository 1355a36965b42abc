"""Contrastive training of an image energy against its own samples (IGEBM / short-run MCMC style).

Each step draws a batch of training images and, as negatives, the model's Langevin samples: chains taken from
a persistent replay buffer (energy/negatives.py's `ModelSamples`; a `reinit` share restart from uniform noise),
moved `langevin_steps` steps by ebmplan's `descend` inside the pixel box [0, 1] and written back; optionally a
share of prioritized hard negatives (`HardBuffer`, as in 2D). The loss is one of ebmplan's losses (by default
`cd`, whose L2 energy penalty keeps energies bounded); the update is ebmplan's shared `ContrastiveStep`, whose
`GradientStep` stops a diverging model.
"""

from __future__ import annotations

import torch

from ..common.runs import rng_state, set_rng_state
from ..energy.contrastive import ContrastiveStep
from ..energy.models import EnergyModel
from ..energy.negatives import HardBuffer, Mixture, ModelSamples, parse_weights
from ..energy.step import GradientStep
from .config import NEGATIVE_KINDS, ImagesConfig


def pixel_box(dim: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(dim, device=device), torch.ones(dim, device=device)


def negative_sampler(cfg: ImagesConfig, dim: int, device: torch.device) -> Mixture:
    """The configured negatives: the persistent Langevin buffer, and optionally prioritized hard negatives."""
    box = pixel_box(dim, device)
    parts = {}
    for name, weight in parse_weights(cfg.negatives, NEGATIVE_KINDS, "negative kind").items():
        if name == "model":
            sampler = ModelSamples(box, steps=cfg.langevin_steps, step_size=cfg.langevin_step_size,
                                   noise=cfg.langevin_noise, buffer_size=cfg.buffer_size, reinit=cfg.reinit)
        else:
            sampler = HardBuffer(box, size=cfg.hard_size)
        parts[name] = (weight, sampler)
    return Mixture(parts)


class ImageTrainer:
    """One step at a time (`step_once`), with everything a checkpoint needs in `state_dict`."""

    def __init__(self, cfg: ImagesConfig, energy: EnergyModel, train: torch.Tensor, *, checkpoint=None):
        self.cfg, self.energy = cfg, energy
        self.train = train.reshape(len(train), -1)  # [N, D]
        self.negatives = negative_sampler(cfg, self.train.shape[1], self.train.device)
        # beta1 = 0 as in IGEBM: the negatives move with the model, and momentum would chase where they were
        self.optimizer = torch.optim.Adam(energy.parameters(), lr=cfg.lr, betas=(0.0, 0.999))
        update = GradientStep(energy, self.optimizer, what="image energy", grad_clip=cfg.grad_clip,
                              checkpoint=checkpoint)
        self.contrast = ContrastiveStep(energy, update, self.negatives, cfg.make_loss(),
                                        n_negatives=cfg.n_negatives, margin=cfg.margin)
        self.step = 0

    @property
    def buffer(self) -> torch.Tensor:
        """The persistent chains [S, D] (of the `model` negatives)."""
        return self.negatives.parts["model"][1].buffer

    def step_once(self) -> dict[str, float]:
        """One contrastive step; returns the loss and mean energies of positives and negatives."""
        idx = torch.randint(len(self.train), (self.cfg.batch_size,), device=self.train.device)
        self.step += 1
        c = self.contrast(self.train[idx], self.step, index=idx)  # positives [B, D]; negatives [B, n, D]
        return {"loss": c.loss.item(), "energy_pos": c.e_pos.mean().item(), "energy_neg": c.e_neg.mean().item()}

    def state_dict(self) -> dict:
        return {"model": self.energy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "negatives": self.negatives.state_dict(), "rng": rng_state(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.energy.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.negatives.load_state_dict(state["negatives"])
        set_rng_state(state["rng"])
        self.step = state["step"]
