"""The task: (x, y) pairs from the spiral, held-out x, and the true branches y at each x."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..energy.negatives import Box
from ..points.toy2d import load_data


def spiral_curve(n: int = 20000) -> np.ndarray:
    """The clean spiral (docs/protocol.md §2) as n points in order along the curve: [n, 2]."""
    theta = np.linspace(math.pi / 2, math.pi / 2 + 4 * math.pi, n)
    r = 1.5 * theta / (math.pi / 2 + 4 * math.pi)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], 1)


def branches_at(x: np.ndarray, curve: np.ndarray) -> list[np.ndarray]:
    """The y of every crossing of the vertical line at each x with the ordered curve [n, 2]."""
    out = []
    cx, cy = curve[:-1], curve[1:]
    for xi in x:
        a, b = cx[:, 0] - xi, cy[:, 0] - xi
        hit = np.nonzero((a <= 0) & (b > 0) | (a > 0) & (b <= 0))[0]  # segments that cross the line
        t = a[hit] / (a[hit] - b[hit])
        out.append(cx[hit, 1] + t * (cy[hit, 1] - cx[hit, 1]))
    return out


@dataclass
class Pairs:
    x: torch.Tensor  # [N, 1] condition (first coordinate)
    y: torch.Tensor  # [N, 1] free variable (second coordinate)
    x_eval: torch.Tensor  # [E, 1] held-out x, from the test split
    box: Box  # the padded y range
    curve: np.ndarray  # [n, 2] the clean curve in order


def spiral_pairs(seed: int, n_eval: int) -> Pairs:
    data = load_data("spiral", seed=seed)
    g = torch.Generator().manual_seed(seed)
    test = data.test[torch.randperm(len(data.test), generator=g)[:n_eval]]
    return Pairs(x=data.train[:, :1], y=data.train[:, 1:], x_eval=test[:, :1],
                 box=(data.low[1:], data.high[1:]), curve=spiral_curve())
