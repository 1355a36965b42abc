"""`ebmplan train`'s contrastive training, one step at a time: the model with its optimiser, negatives and loss,
the moving average of the weights that is validated and kept, and early stopping.

`train.py` runs it to the end in a terminal; the playground runs it between frames. Both drive this one object,
so the same recipe gives the same model, row for row the same log.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch

from ..common.runs import rng_state, set_rng_state
from ..energy.contrastive import Contrast, ContrastiveStep
from ..energy.models import EnergyModel
from ..energy.step import GradientStep
from . import metrics
from .toy2d import PointData
from .train_config import TrainConfig

# What to try when the energy model diverges.
REMEDY = "try a lower --lr, a smaller --grad-clip, --spectral-norm, or the cd loss with a larger --l2"


class ContrastiveFit:
    """The state of one contrastive training run on `data` (standardised points) for `energy`, built and seeded
    by the caller. `checkpoint`: the run's checkpoint file, named in a divergence message."""

    def __init__(self, cfg: TrainConfig, data: PointData, energy: EnergyModel, *, checkpoint: Path | None = None):
        device = next(energy.parameters()).device
        self.cfg, self.data, self.energy = cfg, data, energy
        self.optimizer = torch.optim.Adam(energy.parameters(), lr=cfg.lr)
        update = GradientStep(energy, self.optimizer, what="energy model", grad_clip=cfg.grad_clip,
                              remedy=REMEDY, checkpoint=checkpoint)
        self.negatives = cfg.make_negatives(tuple(b.to(device) for b in data.model_box))
        self.contrast = ContrastiveStep(energy, update, self.negatives, cfg.make_loss(),
                                        n_negatives=cfg.n_negatives, margin=cfg.margin)
        self.train_x = data.to_model(data.train).to(device)  # [N, D], standardised
        self.validation = Validation(data, device)
        self.average = WeightAverage(energy, cfg.average)
        self.best = BestModel(cfg.patience, min_steps=cfg.min_steps)
        self.step = 0  # steps done
        self.last: Contrast | None = None  # what the last step used and found

    @property
    def finished(self) -> bool:
        """All steps done, or stopped early (the validation NLL stopped improving)."""
        return self.step >= self.cfg.steps or self.best.stopped

    @property
    def model(self) -> EnergyModel:
        """The model that is validated, shown and kept: the moving average of the weights."""
        return self.average.model

    def train_step(self) -> bool:
        """One update; True when a validation check is due after it (every `log_every` steps and at the last)."""
        cfg, done = self.cfg, self.step + 1
        pos = self.train_x[torch.randint(len(self.train_x), (cfg.batch_size,), device=self.train_x.device)]  # [B, D]
        self.last = self.contrast(pos, done)
        self.average.update(self.energy)
        self.step = done
        return done % cfg.log_every == 0 or done == cfg.steps

    def check(self, best: BestModel | None = None) -> dict:
        """The validation check at the current step, as `best` (default: the run's own) sees it, and its
        metrics.csv row without the time."""
        best = best or self.best
        loss, e_pos, e_neg = self.last.loss, self.last.e_pos, self.last.e_neg
        val_nll = self.validation(self.model)
        best.observe(val_nll, self.step, self.model)
        return {"loss": loss.item(), "energy_pos": e_pos.mean().item(), "energy_neg": e_neg.mean().item(),
                "energy_gap": (e_neg.mean() - e_pos.mean()).item(), "val_nll": val_nll}

    @torch.no_grad()
    def energies_finite(self) -> bool:
        """Whether the model still gives finite energies on the last batch: only such a model is worth keeping."""
        pos, neg = self.last.pos, self.last.neg
        return bool(torch.isfinite(self.energy(torch.cat([pos, neg.reshape(-1, self.data.dim)]))).all())

    def kept(self, best: BestModel | None = None) -> EnergyModel:
        """The model to keep: the best validated average (the last one, with patience 0)."""
        return (best or self.best).model_of(self.model)

    def state_dict(self) -> dict:
        return {"model": self.energy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "negatives": self.negatives.state_dict(), "best": self.best.state_dict(),
                "average": self.model.state_dict(), "rng": rng_state(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.energy.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.negatives.load_state_dict(state["negatives"])
        self.best.load_state_dict(state["best"])
        self.model.load_state_dict(state["average"])
        set_rng_state(state["rng"])
        self.step = state["step"]


class Validation:
    """The validation NLL of a model (in standardised units), for early stopping: exp(-E/T) / Z with T fitted
    on the validation split itself, Z summed over a 100 x 100 grid of the box in 2D (over 10,000 fixed uniform
    points of it in other dimensions)."""

    def __init__(self, data: PointData, device: torch.device, cells: int = 10_000):
        low, high = data.model_box
        if data.dim == 2:
            side = round(math.sqrt(cells))
            u = (torch.arange(side) + 0.5) / side
            points = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)  # [side^2, 2]
        else:  # its own generator: training's random stream stays as it was
            points = torch.rand(cells, data.dim, generator=torch.Generator().manual_seed(0))
        self.points = (low + (high - low) * points).to(device)  # [C, D]
        self.val = data.to_model(data.val).clamp(low, high).to(device)  # [M, D]
        self.log_cell = float(torch.log(high - low).sum()) - math.log(len(points))

    @torch.no_grad()
    def __call__(self, energy: EnergyModel) -> float:
        e_val = energy(self.val)
        return metrics.fitted_nll(e_val, e_val, energy(self.points), self.log_cell)[0]


class WeightAverage:
    """An exponential moving average of a model's weights, `decay` per step (`model`, a copy of the network):
    the model that is validated and kept. With decay 0 it is the weights themselves."""

    def __init__(self, energy: EnergyModel, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(energy).requires_grad_(False)

    @torch.no_grad()
    def update(self, energy: EnergyModel) -> None:
        for kept, new in zip(self.model.state_dict().values(), energy.state_dict().values(), strict=True):
            if kept.is_floating_point():
                kept.lerp_(new, 1 - self.decay)
            else:
                kept.copy_(new)


class BestModel:
    """Early stopping: keeps the weights of the best validation NLL and says when `patience` checks in a row
    have not improved on it by MIN_IMPROVEMENT, once `min_steps` steps are done (never, with patience 0: then
    the last model is kept)."""

    MIN_IMPROVEMENT = 0.01  # nats

    def __init__(self, patience: int, *, min_steps: int = 0):
        self.patience, self.min_steps = patience, min_steps
        self.value, self.step, self.stale, self.stopped = math.inf, 0, 0, False
        self.last_step = 0
        self.weights: dict[str, torch.Tensor] | None = None

    def observe(self, value: float, step: int, energy: EnergyModel) -> None:
        self.last_step = step
        if not self.patience:
            return
        if value < self.value - self.MIN_IMPROVEMENT or self.weights is None:
            self.value, self.step, self.stale = min(value, self.value), step, 0
            self.weights = {k: v.detach().clone() for k, v in energy.state_dict().items()}
        else:
            self.stale += 1
            self.stopped = self.stale >= self.patience and step >= self.min_steps

    def model_of(self, energy: EnergyModel) -> EnergyModel:
        """The model to keep: a copy of `energy` with the best weights (`energy` itself, with patience 0)."""
        if self.weights is None:
            return energy
        kept = copy.deepcopy(energy)
        kept.load_state_dict(self.weights)
        return kept

    def state_dict(self) -> dict:
        return {"value": self.value, "step": self.step, "stale": self.stale, "stopped": self.stopped,
                "last_step": self.last_step, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
