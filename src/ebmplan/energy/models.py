"""Energy networks: a module maps a free variable x [B, D] (and an optional context [B, C]) to energies [B]."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, choose

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU,
               "softplus": nn.Softplus, "leaky_relu": nn.LeakyReLU}


class EnergyModel(nn.Module):
    """Base class: `forward(x, context=None) -> [B]`, low energy for data.

    `dim` is the size of the free variable that inference descends over; `context_dim` is 0 for
    unconditional energies F(x) and the size of the conditioning input for conditional ones F(x | c).
    """

    dim: int
    context_dim: int = 0

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError  # abstract: every energy defines it

    def energies(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Energies of a block of candidates per row: x [B, n, D], context [B, C] -> [B, n]."""
        B, n, D = x.shape
        flat_context = None
        if context is not None:
            flat_context = context[:, None, :].expand(B, n, context.shape[-1]).reshape(B * n, -1)
        return self(x.reshape(B * n, D), flat_context).reshape(B, n)


class MLPEnergy(EnergyModel):
    """F(x) or F(x | c) as an MLP on the concatenation [x, c] with one scalar output.

    `depth` counts hidden layers of `width` units; `spectral_norm` bounds each layer's Lipschitz constant,
    which keeps the landscape smooth and training stable at high learning rates.
    """

    def __init__(self, dim: int, *, width: int = 128, depth: int = 3, activation: str = "silu",
                 spectral_norm: bool = False, context_dim: int = 0):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1 or context_dim < 0:
            raise ConfigError(f"an MLP energy needs dim, width and depth >= 1 (got dim={dim}, width={width}, "
                              f"depth={depth}) and context_dim >= 0 (got {context_dim})")
        act = ACTIVATIONS[choose("activation", activation, ACTIVATIONS)]
        self.dim, self.context_dim = dim, context_dim
        self.width, self.depth, self.activation, self.spectral_norm = width, depth, activation, spectral_norm
        sizes = [dim + context_dim] + [width] * depth
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [_linear(fan_in, fan_out, spectral_norm), act()]
        layers.append(_linear(width, 1, spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.context_dim:
            x = torch.cat([x, context], dim=-1)  # [B, D + C]
        return self.net(x).squeeze(-1)  # [B]


def _linear(fan_in: int, fan_out: int, spectral_norm: bool) -> nn.Module:
    layer = nn.Linear(fan_in, fan_out)
    return nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer


class FiLMEnergy(EnergyModel):
    """F(x | c) where the context scales and shifts every hidden layer (FiLM): h <- act((1 + g) W h + b).

    The context passes through its own small MLP (one hidden layer of `width`) that outputs a scale and a
    shift per unit and layer; x alone flows through the main MLP.
    """

    def __init__(self, dim: int, *, context_dim: int, width: int = 128, depth: int = 3,
                 activation: str = "silu"):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1 or context_dim < 1:
            raise ConfigError(f"a FiLM energy needs dim, width, depth and context_dim >= 1 (got dim={dim}, "
                              f"width={width}, depth={depth}, context_dim={context_dim})")
        act = ACTIVATIONS[choose("activation", activation, ACTIVATIONS)]
        self.dim, self.context_dim, self.width, self.depth = dim, context_dim, width, depth
        self.layers = nn.ModuleList(nn.Linear(dim if i == 0 else width, width) for i in range(depth))
        self.film = nn.Sequential(nn.Linear(context_dim, width), act(), nn.Linear(width, 2 * width * depth))
        self.act = act()
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        film = self.film(context).reshape(-1, self.depth, 2, self.width)
        scale, shift = film.unbind(2)  # [B, depth, W] each
        h = x
        for i, layer in enumerate(self.layers):
            h = self.act(layer(h) * (1 + scale[:, i]) + shift[:, i])  # [B, W]
        return self.out(h).squeeze(-1)  # [B]
