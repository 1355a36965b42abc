"""What a frame of the energy page shows, computed from the model being trained: the energy over the view (the
heat map), live gradient-descent samples, the negatives the trainer used last, and a dropped particle's path.
The model works in standardised units (`PointData.to_model`); the page sees the data's own units.

Watching changes no result: the samples draw their noise from their own generator (not torch's global one that
training draws from), descent uses no noise, and the model is read in eval mode (spectral norm's power
iteration, which runs in training mode, is not advanced by looking).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ..energy.inference import descend
from ..energy.models import EnergyModel
from ..points.toy2d import PointData
from ..points.train_config import TrainConfig
from .limits import CHAINS, GRID, NEGATIVES_SHOWN, PARTICLE_STEPS

Box = tuple[torch.Tensor, torch.Tensor]  # (low [2], high [2])
# Every frame the live samples take CHAIN_STEPS descent steps and a REFRESH share of them restart from noise (so
# new minima get found): a sample lives about CHAIN_STEPS / REFRESH = 160 steps, and a frame costs little
# training time (benchmarks/playground.py).
REFRESH = 0.05
CHAIN_STEPS = 8


@contextmanager
def evaluating(energy: EnergyModel) -> Iterator[None]:
    was_training = energy.training
    energy.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        energy.train(was_training)


class Landscape:
    """Frames of one model trained on `data`; `view` is the plane the page shows, in the data's units."""

    def __init__(self, cfg: TrainConfig, data: PointData, view: Box):
        self.cfg, self.data = cfg, data
        self.box = data.model_box  # where samples start and stay, as in `ebmplan train`'s inference
        self.view = data.to_model(view[0]), data.to_model(view[1])
        self.step_size = cfg.infer_step_size or 0.002  # as `ebmplan train` infers a contrastive energy
        xs = torch.linspace(float(view[0][0]), float(view[1][0]), GRID)
        ys = torch.linspace(float(view[1][1]), float(view[0][1]), GRID)  # top row first, as a canvas draws
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self.grid = data.to_model(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))  # [G*G, 2]
        self.generator = torch.Generator().manual_seed(cfg.seed + 2)
        self.chains = self.noise(CHAINS)  # [CHAINS, 2]

    def noise(self, n: int) -> torch.Tensor:
        low, high = self.box
        return low + (high - low) * torch.rand(n, 2, generator=self.generator)

    def shown(self, points: torch.Tensor) -> list:
        """Points in the model's units as the page gets them: [[x, y], ...] in the data's units."""
        return self.data.to_data(points.detach()).round(decimals=4).tolist()

    def heat(self, energy: EnergyModel) -> dict:
        """The energy over the view, [GRID, GRID] top row first, with the colour range (2% and 98% quantiles)."""
        with evaluating(energy):
            e = energy(self.grid).reshape(GRID, GRID)
        finite = e[torch.isfinite(e)]
        low, high = (torch.quantile(finite, torch.tensor([0.02, 0.98])).tolist() if len(finite) else (0.0, 1.0))
        return {"grid": np.nan_to_num(e.numpy(), nan=high, posinf=high, neginf=low).round(4).tolist(),
                "range": [low, max(high, low + 1e-6)], "size": GRID}

    def samples(self, energy: EnergyModel) -> list:
        """Advance the live samples by a few descent steps (restarting a few from noise): [CHAINS, 2]."""
        fresh = torch.randint(CHAINS, (int(REFRESH * CHAINS),), generator=self.generator)
        self.chains[fresh] = self.noise(len(fresh))
        self.chains = descend(energy, self.chains, steps=CHAIN_STEPS, step_size=self.step_size,
                              max_move=self.cfg.infer_max_move, tol=0.0, box=self.box).samples
        return self.shown(self.chains)

    def negatives(self, neg: torch.Tensor, counts: dict[str, int]) -> dict[str, list]:
        """The negatives of one step, [B, n, 2] with each kind's block of columns in `counts` order, as up to
        NEGATIVES_SHOWN points per kind."""
        out, start = {}, 0
        for kind, c in counts.items():
            if c:
                rows = -(-NEGATIVES_SHOWN // c)  # enough rows for NEGATIVES_SHOWN points
                out[kind] = self.shown(neg[:rows, start:start + c].reshape(-1, 2)[:NEGATIVES_SHOWN])
            start += c
        return out

    def particle(self, energy: EnergyModel, x: float, y: float) -> dict:
        """Gradient descent from (x, y) by the run's inference settings, every 10th point of its path."""
        point = self.data.to_model(torch.tensor([[x, y]], dtype=torch.float32))
        path, converged = [point], False
        for _ in range(PARTICLE_STEPS // 10):
            result = descend(energy, point, steps=10, step_size=self.step_size, max_move=self.cfg.infer_max_move,
                             tol=self.cfg.infer_tol, box=self.view)
            point = result.samples
            path.append(point)
            if bool(result.converged[0]):
                converged = True
                break
        with evaluating(energy):
            final = float(energy(point)[0])
        return {"path": self.shown(torch.cat(path)), "converged": converged, "energy": final}
