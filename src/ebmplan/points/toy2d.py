"""Point data for training: a named 2D set (shapes.py) or a user file, split into train / val / test.

A named set comes with what is true about it (its clean curve, modes or support, and its generator's density),
against which samples are scored (docs/protocol.md §2). A user file is checked before any work starts: too few
points, too few distinct points, a constant column or non-numbers are refused in one sentence.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..common.errors import ConfigError
from .kde import KDE
from .shapes import SHAPES, Truth, spiral  # noqa: F401  (spiral: the seed's sampler, part of this module's API)

# name -> the set's generator and what is true about it (shapes.py)
DATASETS = SHAPES
MIN_POINTS = 50  # fewer points cannot be split into useful train, validation and test parts
RESOLUTION = 0.04  # the data's resolution in standardised units: a KDE bandwidth of this size
ZOOM = (0.25, 8.0)  # the least and most that standardisation enlarges the data beyond unit std


@dataclass
class PointData:
    """A point data set split three ways, with its padded box, its standardisation and (for a named set) what
    is true about it.

    Training sees standardised points, z = (x - shift) / scale per column; every result is mapped back to the
    data's own units (`to_data`). Standardisation gives each column of the training split mean 0 and std 1, then
    enlarges all columns alike so that the data's resolution, the bandwidth of a Gaussian KDE chosen on the
    validation split, is RESOLUTION: one recipe then sees every data set at the same scale of detail, whether
    its modes are broad or sharp (by at most the factors of ZOOM)."""

    name: str
    train: torch.Tensor  # [N_train, D]
    val: torch.Tensor  # [N_val, D]
    test: torch.Tensor  # [N_test, D]
    low: torch.Tensor  # [D]
    high: torch.Tensor  # [D]
    shift: torch.Tensor  # [D]
    scale: torch.Tensor  # [D]
    truth: Truth | None = None  # None for a user file
    zoom: float = 1.0  # how much standardisation enlarged the data beyond unit std

    @property
    def dim(self) -> int:
        return self.train.shape[1]

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.low, self.high

    @property
    def clean(self) -> torch.Tensor | None:
        """The clean curve of a curve set, [20000, D], else None."""
        if self.truth is None or self.truth.clean is None:
            return None
        return torch.as_tensor(self.truth.clean, dtype=torch.float32)

    @property
    def reference(self) -> torch.Tensor:
        """What sample precision and coverage are measured against: the clean curve, else the test split."""
        clean = self.clean
        return clean if clean is not None else self.test

    @property
    def model_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The padded box in standardised units."""
        return self.to_model(self.low), self.to_model(self.high)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data units -> the standardised units training works in: [..., D]."""
        return (x - self.shift.to(x.device)) / self.scale.to(x.device)

    def to_data(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised units -> data units: [..., D]."""
        return z * self.scale.to(z.device) + self.shift.to(z.device)


def load_data(source: str, *, seed: int = 0, n: int = 14000, pad: float = 0.1,
              standardise: bool = True) -> PointData:
    """A named data set (`DATASETS`) or a user file of points (`.npy` or `.csv`, shape N x D).

    Points are shuffled with `seed` and split 5 : 1 : 1 into train, validation and test. The box is the
    training data's bounding box, padded by `pad` times its extent on every side. `standardise=False` makes
    the standardisation the identity (training then sees the data's own units).
    """
    rng = np.random.default_rng(seed)
    truth = None
    if source in DATASETS:
        shape = DATASETS[source]
        points = shape.sample(rng, n)
        truth = shape.truth(seed)
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
    span = hi - lo  # > 0 in every column: read_points refuses a constant one

    def t(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    val, test = points[len(train): len(train) + n_val], points[len(train) + n_val:]
    dim, zoom = points.shape[1], 1.0
    shift, scale = np.zeros(dim), np.ones(dim)
    if standardise:
        shift, spread = train.mean(0), train.std(0)
        resolution = KDE(t((train - shift) / spread)).fit(t((val - shift) / spread)).bandwidth
        zoom = float(np.clip(RESOLUTION / resolution, *ZOOM))
        scale = spread / zoom
    return PointData(name=name, train=t(train), val=t(val), test=t(test), low=t(lo - pad * span),
                     high=t(hi + pad * span), shift=t(shift), scale=t(scale), truth=truth, zoom=zoom)


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
    if not np.isfinite(arr).all():
        raise ConfigError(f"data file {path} contains NaN or infinite values")
    arr = arr.astype(np.float64)
    if len(arr) < MIN_POINTS:
        raise ConfigError(f"data file {path} has {len(arr)} points; at least {MIN_POINTS} are needed to train "
                          f"on some and hold others out")
    distinct = len(np.unique(arr, axis=0))
    if distinct < MIN_POINTS:
        raise ConfigError(f"data file {path} has {len(arr)} points but only {distinct} distinct ones; at least "
                          f"{MIN_POINTS} distinct points are needed (a model of a few repeated points is a lookup "
                          f"table)")
    size = np.abs(arr).max()
    if size > 1e30:
        raise ConfigError(f"data file {path} holds values up to {size:.3g}, beyond what float32 training handles; "
                          f"rescale the file")
    # Points are held in float32: a column whose spread is below a millionth of its size (or of 1e-30) is
    # constant there, and standardisation would divide by its zero spread.
    spread = arr.max(0) - arr.min(0)
    flat = np.nonzero(spread <= 1e-6 * np.maximum(np.abs(arr).max(0), 1e-24))[0]
    if len(flat):
        raise ConfigError(f"column {flat[0] + 1} of data file {path} is constant (it varies by "
                          f"{spread[flat[0]]:.3g} around {arr[0, flat[0]]:.6g}); drop it or remove its offset")
    return arr
