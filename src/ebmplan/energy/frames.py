"""Networks over video frames (their negatives are in frame_negatives.py).

- `FrameEnergy`: F(next frame | previous frames), an MLP on [x, context] whose first layer is split into an
  x part and a context part, so `energies` (many candidate frames per context) computes the context part
  once per row;
- `FrameRegressor`: the MSE baseline with the same hidden layers;
- `LatentFrameEnergy`: F(next frame | previous frames, z) with a discrete latent z.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common.errors import ConfigError
from .models import EnergyModel
from .nets import mlp


def _body(width: int, depth: int, out: int, activation: str) -> nn.Sequential:
    """The hidden layers after the first and the output: [B, width] pre-activations -> [B, out]. Each network
    keeps its own first layer (FrameEnergy's is split into an x and a context part) and the keys of saved
    weights stay those of a first layer followed by this body."""
    return mlp(width, out, width=width, depth=depth - 1, activation=activation, activate_input=True)


def _check(pixels: int, frames: int, width: int, depth: int) -> None:
    if pixels < 1 or frames < 1 or width < 1 or depth < 1:
        raise ConfigError(f"a frame network needs pixels, context frames, width and depth >= 1 (got "
                          f"pixels={pixels}, frames={frames}, width={width}, depth={depth})")


class FrameEnergy(EnergyModel):
    """F(x | context): x is one flattened frame [B, P], context `frames` flattened frames [B, frames * P].

    `depth` counts hidden layers of `width` units, as in `MLPEnergy`.
    """

    def __init__(self, pixels: int, *, frames: int = 2, width: int = 256, depth: int = 2,
                 activation: str = "silu"):
        super().__init__()
        _check(pixels, frames, width, depth)
        self.dim, self.context_dim = pixels, frames * pixels
        self.x_in = nn.Linear(pixels, width)
        self.context_in = nn.Linear(frames * pixels, width, bias=False)
        self.body = _body(width, depth, 1, activation)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.x_in(x) + self.context_in(context)).squeeze(-1)  # [B]

    def energies(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.x_in(x) + self.context_in(context)[:, None, :]  # [B, n, W]: context part once per row
        return self.body(h).squeeze(-1)  # [B, n]


class FrameRegressor(nn.Module):
    """The baseline: predict the next frame [B, P] from the context [B, frames * P], trained by MSE.

    Same hidden layers as `FrameEnergy`; only the ends differ (context in, a frame out).
    """

    def __init__(self, pixels: int, *, frames: int = 2, width: int = 256, depth: int = 2,
                 activation: str = "silu"):
        super().__init__()
        _check(pixels, frames, width, depth)
        self.net = nn.Sequential(nn.Linear(frames * pixels, width), _body(width, depth, pixels, activation))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.net(context)  # [B, P]


class LatentFrameEnergy(EnergyModel):
    """A latent-variable energy F(x | context, z) = sum of squared pixel differences between x and a decoded
    frame G(context, z), with z one of `codes` discrete latent codes (one-hot).

    The context handed to `forward` is [previous frames, one-hot z], so `descend` works unchanged; for a
    fixed z the minimum over x is G(context, z). Training lowers the free energy min_z F(x | context, z)
    (the best latent, found exactly by trying every code); its capacity is limited by the number of codes,
    so the energy cannot be flat. Prediction samples z from the uniform prior and minimises over x: each
    code gives its own sharp answer.
    """

    def __init__(self, pixels: int, *, frames: int = 1, codes: int = 8, width: int = 256, depth: int = 2,
                 activation: str = "silu"):
        super().__init__()
        _check(pixels, frames, width, depth)
        if codes < 1:
            raise ConfigError(f"a latent frame energy needs at least 1 latent code, got {codes}")
        self.dim, self.codes, self.frames = pixels, codes, frames
        self.context_dim = frames * pixels + codes
        self.decoder = nn.Sequential(nn.Linear(self.context_dim, width),
                                     _body(width, depth, pixels, activation))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return (x - self.decoder(context)).pow(2).sum(-1)  # [B]

    def with_codes(self, frames: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The full context [B, frames * P + codes] for previous frames [B, frames * P] and codes z [B]."""
        return torch.cat([frames, nn.functional.one_hot(z, self.codes).to(frames.dtype)], dim=-1)

    def decode_all(self, frames: torch.Tensor) -> torch.Tensor:
        """G(context, z) for every code: [B, codes, P]."""
        B = len(frames)
        z = torch.arange(self.codes, device=frames.device).repeat(B)  # [B * codes]
        out = self.decoder(self.with_codes(frames.repeat_interleave(self.codes, 0), z))  # [B * codes, P]
        return out.reshape(B, self.codes, -1)

    def energy_per_code(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """F(x | frames, z) for every code z: [B, codes]."""
        return (x[:, None, :] - self.decode_all(frames)).pow(2).sum(-1)
