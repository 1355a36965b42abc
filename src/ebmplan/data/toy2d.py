"""2D toy data sets (the seed's spiral and friends) and user point files, split into train / val / test.

Each named set has a noisy sampler and, where one exists, its clean curve (the same set with no noise),
against which sample precision and coverage are measured (docs/protocol.md §2).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError

SPIRAL_NOISE = 0.05
CLEAN_POINTS = 20000


def spiral(rng: np.random.Generator, n: int, noise: float) -> np.ndarray:
    """theta = pi/2 + 4 pi sqrt(u); r = 1.5 theta / (pi/2 + 4 pi); plus Gaussian noise (docs/protocol.md §2)."""
    theta = math.pi / 2 + 4 * math.pi * np.sqrt(rng.uniform(size=n))
    r = 1.5 * theta / (math.pi / 2 + 4 * math.pi)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], 1) + noise * rng.standard_normal((n, 2))


def moons(rng, n, noise):
    t = math.pi * rng.uniform(size=n)
    upper = rng.uniform(size=n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    return np.stack([x - 0.5, y - 0.25], 1) + noise * rng.standard_normal((n, 2))


def rings(rng, n, noise):
    radius = rng.choice([0.5, 1.0, 1.5], size=n)
    t = 2 * math.pi * rng.uniform(size=n)
    return radius[:, None] * np.stack([np.cos(t), np.sin(t)], 1) + noise * rng.standard_normal((n, 2))


def gaussians8(rng, n, noise):
    angle = rng.integers(0, 8, size=n) * math.pi / 4
    return 1.5 * np.stack([np.cos(angle), np.sin(angle)], 1) + 2 * noise * rng.standard_normal((n, 2))


def checkerboard(rng, n, noise):
    # Eight unit squares of a 4x4 board over [-2, 2]^2, alternately filled; `noise` is unused (no curve).
    col = rng.integers(0, 4, size=n)
    row = 2 * rng.integers(0, 2, size=n) + (col % 2)
    return np.stack([col, row], 1) - 2 + rng.uniform(size=(n, 2))


def pinwheel(rng, n, noise):
    # Five arms bending outwards; the clean curve has no tangential spread.
    arm = rng.integers(0, 5, size=n)
    radial = 0.3 * rng.standard_normal(n) + 1.0
    tangential = 2 * noise * rng.standard_normal(n)
    angle = arm * 2 * math.pi / 5 + 0.25 * np.exp(radial)
    c, s = np.cos(angle), np.sin(angle)
    return 1.2 * np.stack([radial * c - tangential * s, radial * s + tangential * c], 1)


def swissroll(rng, n, noise):
    t = 1.5 * math.pi * (1 + 2 * rng.uniform(size=n))
    return np.stack([t * np.cos(t), t * np.sin(t)], 1) / 7.5 + noise * rng.standard_normal((n, 2))


Sampler = Callable[[np.random.Generator, int, float], np.ndarray]
# name -> (sampler, has a clean curve)
DATASETS: dict[str, tuple[Sampler, bool]] = {
    "spiral": (spiral, True), "moons": (moons, True), "rings": (rings, True), "8gaussians": (gaussians8, True),
    "checkerboard": (checkerboard, False), "pinwheel": (pinwheel, True), "swissroll": (swissroll, True),
}


@dataclass
class PointData:
    """A point data set split three ways, with its padded box and (if known) its clean curve."""

    name: str
    train: torch.Tensor  # [N_train, D]
    val: torch.Tensor  # [N_val, D]
    test: torch.Tensor  # [N_test, D]
    clean: torch.Tensor | None  # [20000, D], or None when the set has no known curve
    low: torch.Tensor  # [D]
    high: torch.Tensor  # [D]

    @property
    def dim(self) -> int:
        return self.train.shape[1]

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.low, self.high

    @property
    def reference(self) -> torch.Tensor:
        """What sample precision and coverage are measured against: the clean curve, else the test split."""
        return self.clean if self.clean is not None else self.test


def load_data(source: str, *, seed: int = 0, n: int = 14000, noise: float = SPIRAL_NOISE,
              pad: float = 0.1) -> PointData:
    """A named data set (`DATASETS`) or a user file of points (`.npy` or `.csv`, shape N x D).

    Points are shuffled with `seed` and split 5 : 1 : 1 into train, validation and test. The box is the
    training data's bounding box, padded by `pad` times its extent on every side.
    """
    rng = np.random.default_rng(seed)
    clean = None
    if source in DATASETS:
        sampler, has_curve = DATASETS[source]
        points = sampler(rng, n, noise)
        if has_curve:
            clean = sampler(np.random.default_rng(10_000 + seed), CLEAN_POINTS, 0.0)
        name = source
    elif Path(source).suffix in (".npy", ".csv"):
        points = read_points(Path(source))
        name = Path(source).stem
    else:
        raise ConfigError(f"unknown data set {source!r}; choose one of {', '.join(DATASETS)} "
                          f"or give a .npy or .csv file of points")
    points = points[rng.permutation(len(points))]
    n_val = n_test = max(1, len(points) // 7)
    train = points[: len(points) - n_val - n_test]
    lo, hi = train.min(0), train.max(0)
    span = np.maximum(hi - lo, 1e-3)

    def t(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    return PointData(name=name, train=t(train), val=t(points[len(train): len(train) + n_val]),
                     test=t(points[len(train) + n_val:]), clean=None if clean is None else t(clean),
                     low=t(lo - pad * span), high=t(hi + pad * span))


def read_points(path: Path) -> np.ndarray:
    """Read an N x D array of finite floats from .npy or .csv, or raise a ConfigError saying what is wrong."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file is reported below, not as a warning
            if path.suffix == ".npy":
                arr = np.load(path, allow_pickle=False)
            else:
                arr = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2, comments="#")
    except FileNotFoundError:
        raise ConfigError(f"data file {path} does not exist") from None
    except (OSError, ValueError, EOFError) as err:
        raise ConfigError(f"data file {path} could not be read as {path.suffix[1:]} numbers ({err})") from None
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ConfigError(f"data file {path} must hold an N x D array of points; it holds shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(f"data file {path} must hold numbers; it holds {arr.dtype}")
    if len(arr) < 20:
        raise ConfigError(f"data file {path} has {len(arr)} points; at least 20 are needed to split it")
    if not np.isfinite(arr).all():
        raise ConfigError(f"data file {path} contains NaN or infinite values")
    return arr.astype(np.float64)
