"""A Gaussian kernel density estimate with its bandwidth chosen on held-out points.

Two uses: the KDE is the NLL reference a user would try first (metrics, docs/protocol.md §2), and its bandwidth
is the data's resolution, the finest scale the data resolves, by which standardisation sizes the data for
training (data/toy2d.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.spatial import cKDTree
from scipy.special import logsumexp

NEIGHBOURS = 512  # each point's kernel sum runs over this many nearest training points


class KDE:
    """Gaussian kernels of one isotropic bandwidth on `train` [N, D]; `fit(val)` chooses the bandwidth that
    maximises the likelihood of `val` (bounded search over log bandwidth from 1e-3 to 10, in the units given).
    Each point's kernel sum runs over its NEIGHBOURS nearest training points: on every suite set (in
    standardised units) the rest change the NLL by less than 0.002 nats and the bandwidth by less than 8%."""

    def __init__(self, train: torch.Tensor):
        self.n, self.dim = train.shape
        self.tree = cKDTree(train.double().numpy())
        self.bandwidth = math.nan

    def _squared_distances(self, points: torch.Tensor) -> np.ndarray:  # [M, K]
        return self.tree.query(points.double().numpy(), k=min(NEIGHBOURS, self.n))[0] ** 2

    def _log_density(self, log_h: float, d2: np.ndarray) -> np.ndarray:  # [M]
        h = math.exp(log_h)
        return (logsumexp(d2 / (-2 * h * h), axis=1) - math.log(self.n)
                - 0.5 * self.dim * math.log(2 * math.pi * h * h))

    def fit(self, val: torch.Tensor) -> KDE:
        d2 = self._squared_distances(val)
        best = minimize_scalar(lambda lh: -self._log_density(lh, d2).mean(), method="bounded",
                               bounds=(math.log(1e-3), math.log(10.0)), options={"xatol": 0.01})
        self.bandwidth = math.exp(best.x)
        return self

    def nll(self, points: torch.Tensor) -> float:
        """Mean negative log-density (nats) of `points` [M, D] at the fitted bandwidth."""
        return float(-self._log_density(math.log(self.bandwidth), self._squared_distances(points)).mean())
