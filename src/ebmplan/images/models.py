"""Image energies F(x): flat images x [B, H*W] -> energies [B], so that ebmplan's inference descends on them as
on any other free variable.

- `conv`: a small convolutional net (3x3 convolutions of `width` channels, every layer after the first halving
  the resolution while it is above 2x2, SiLU, then one linear layer on the flattened map);
- `mlp`: ebmplan's MLPEnergy on the flat pixels (its input gradient is derived by hand, so inference is fast).
"""

from __future__ import annotations

import torch
from torch import nn

from ..common.errors import ConfigError, choose
from ..energy.models import ACTIVATIONS, EnergyModel, MLPEnergy

ARCHITECTURES = ("conv", "mlp")


class ConvEnergy(EnergyModel):
    """F(x) as a small conv net on images of `shape` (H, W), taking them flat: x [B, H*W] -> [B]."""

    def __init__(self, shape: tuple[int, int], *, width: int = 32, depth: int = 3, activation: str = "silu"):
        super().__init__()
        if width < 1 or depth < 1:
            raise ConfigError(f"a conv energy needs width and depth >= 1 (got width={width}, depth={depth})")
        act = ACTIVATIONS[choose("activation", activation, ACTIVATIONS)]
        self.shape, self.dim = tuple(shape), shape[0] * shape[1]
        layers: list[nn.Module] = []
        h, w, channels = shape[0], shape[1], 1
        for i in range(depth):
            stride = 2 if i > 0 and min(h, w) > 2 else 1
            layers += [nn.Conv2d(channels, width, 3, stride=stride, padding=1), act()]
            channels = width
            h, w = (h + 1) // stride if stride == 2 else h, (w + 1) // stride if stride == 2 else w
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(width * h * w, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        maps = self.features(x.reshape(-1, 1, *self.shape))  # [B, width, h, w]
        return self.out(maps.flatten(1)).squeeze(-1)  # [B]


def image_energy(architecture: str, shape: tuple[int, int], *, width: int, depth: int,
                 activation: str = "silu") -> EnergyModel:
    """The image energy `architecture` (conv or mlp) for images of `shape`."""
    if choose("architecture", architecture, ARCHITECTURES) == "conv":
        return ConvEnergy(shape, width=width, depth=depth, activation=activation)
    return MLPEnergy(shape[0] * shape[1], width=width, depth=depth, activation=activation)
