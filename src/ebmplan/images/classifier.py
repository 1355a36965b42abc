"""The scoring classifier: a small conv net trained on the training split of a labelled image data set.

Its penultimate layer is the feature space of the Fréchet distance (metrics.py), in place of Inception, which
neither fits these images nor is available offline; its softmax says which class a sample looks like and how
confidently. 32 features: the distance's finite-sample bias grows with the feature count, and on the digits
(tuning seed 0) 32 separated a Gaussian fit from the train-vs-test floor more than 64 or 128 did.
It is trained once per data set and seed and cached in the run folder.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..common.files import load_weights, save_weights
from ..energy.step import GradientStep
from .data import ImageData

FEATURES = 32


class Classifier(nn.Module):
    """Images [B, H, W] -> logits [B, classes]; `features` gives the penultimate layer [B, 32]."""

    def __init__(self, shape: tuple[int, int], classes: int):
        super().__init__()
        self.shape = tuple(shape)
        h, w = (shape[0] + 3) // 4, (shape[1] + 3) // 4  # two stride-2 convolutions
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * h * w, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, 1, *self.shape))  # [B, 32]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # [B, classes]

    @torch.no_grad()
    def apply(self, x: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N, 32], class probabilities [N, classes]) of images x [N, H, W], in eval mode."""
        self.eval()
        feats = torch.cat([self.features(part) for part in x.split(batch)])
        return feats, self.head(feats).softmax(dim=1)


def train_classifier(data: ImageData, *, seed: int, steps: int = 1500, batch_size: int = 128,
                     lr: float = 1e-3) -> Classifier:
    """Fit the classifier on the training split by cross-entropy (pixel shifts of up to one pixel as
    augmentation, so its features do not hinge on exact positions), seeded by `seed`."""
    g = torch.Generator().manual_seed(seed + 7919)  # its own stream: the energy's training draws none of it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 7919)
        model = Classifier(data.shape, int(data.train_labels.max()) + 1)
    update = GradientStep(model, torch.optim.Adam(model.parameters(), lr=lr), what="scoring classifier")
    x, y = data.train, data.train_labels
    for step in range(1, steps + 1):
        idx = torch.randint(len(x), (batch_size,), generator=g)
        dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
        batch = torch.roll(x[idx], shifts=(dy, dx), dims=(1, 2))
        update(F.cross_entropy(model(batch), y[idx]), step)
    model.eval()
    return model


def cached_classifier(data: ImageData, run: Path, *, seed: int, steps: int = 1500) -> Classifier:
    """The run's classifier from `run/classifier.safetensors`, or trained now and saved there."""
    path = run / "classifier.safetensors"
    if path.exists():
        model = Classifier(data.shape, int(data.train_labels.max()) + 1)
        load_weights(path, model)
        model.eval()
        return model
    model = train_classifier(data, seed=seed, steps=steps)
    save_weights(path, model)
    return model
