"""Honest image metrics without Inception.

- `frechet`: the Fréchet distance between Gaussians fitted to two feature sets (in the scoring classifier's
  feature space, classifier.py); every set is scored at the test split's size, since the distance is biased by
  the sample size. Beside a model's value: the floor (training images against test images) and a Gaussian fit
  to the training pixels (clipped to [0, 1]);
- `class_coverage`: the share of samples classified with probability >= 0.9, the share each class gets (by
  the classifier's argmax), the classes that get at least 1%, and the smallest class share;
- `auroc`: how well an energy separates held-out data (low) from out-of-distribution images (high).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from .classifier import Classifier

CONFIDENT = 0.9  # a sample is classified confidently when its top class probability reaches this
COVERED = 0.01  # a class is covered when at least this share of samples is classified as it


def frechet(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance ||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) of features a [N, F], b [M, F]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    # a tiny ridge: dead ReLU features have zero variance, and sqrtm of a singular product is ill-conditioned
    ridge = 1e-6 * np.eye(a.shape[1])
    c_a, c_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = scipy.linalg.sqrtm(c_a @ c_b)
    if np.iscomplexobj(root):
        root = root.real  # numerical imaginary parts of a product of PSD matrices
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(c_a + c_b - 2 * root))


def auroc(inliers: torch.Tensor, outliers: torch.Tensor) -> float:
    """P(energy of an outlier > energy of an inlier), ties counting half (the Mann-Whitney statistic)."""
    x = torch.cat([inliers, outliers]).double()
    ranks = torch.empty_like(x)
    order = x.argsort()
    ranks[order] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    for value in x.unique()[(x.unique(return_counts=True)[1] > 1)]:  # average ranks of ties
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    n_in, n_out = len(inliers), len(outliers)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


def class_coverage(probs: torch.Tensor) -> dict[str, float | int | list[float]]:
    """Confident share, per-class shares, classes covered and the smallest class share of probs [N, classes]."""
    top, label = probs.max(dim=1)
    shares = torch.bincount(label, minlength=probs.shape[1]).double() / len(label)
    return {"confident_share": float((top >= CONFIDENT).double().mean()), "class_shares": shares.tolist(),
            "classes_covered": int((shares >= COVERED).sum()), "min_class_share": float(shares.min())}


def gaussian_fit(train: torch.Tensor, n: int, *, seed: int) -> torch.Tensor:
    """`n` images from a Gaussian fitted to the training pixels [N, H, W], clipped to [0, 1]."""
    flat = train.reshape(len(train), -1).double()
    mean, cov = flat.mean(0), torch.cov(flat.T) + 1e-6 * torch.eye(flat.shape[1], dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, flat.shape[1]), generator=g, dtype=torch.float64)
    x = mean + z @ torch.linalg.cholesky(cov).T
    return x.clamp(0, 1).float().reshape(n, *train.shape[1:])


class Scorer:
    """Scores sample sets against the held-out images in the classifier's feature space."""

    def __init__(self, classifier: Classifier, train: torch.Tensor, test: torch.Tensor,
                 test_labels: torch.Tensor, *, seed: int):
        self.classifier, self.n = classifier, len(test)
        self.test_features, probs = classifier.apply(test)
        self.accuracy = float((probs.argmax(1) == test_labels).double().mean())
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[: self.n]
        self.floor = self.score(train[pick])["frechet"]
        self.gaussian = self.score(gaussian_fit(train, self.n, seed=seed))["frechet"]

    def score(self, samples: torch.Tensor) -> dict:
        """Fréchet distance to the test images and class coverage of samples [N, H, W] (N >= the test size:
        the first test-size ones are scored)."""
        feats, probs = self.classifier.apply(samples[: self.n])
        return {"frechet": frechet(feats, self.test_features), **class_coverage(probs)}

    def references(self) -> dict[str, float]:
        return {"classifier_test_accuracy": self.accuracy, "frechet_floor_train_vs_test": self.floor,
                "frechet_gaussian_fit": self.gaussian, "scored_images": self.n}
