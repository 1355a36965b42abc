"""The multilayer perceptrons every model is built from: `mlp` (an `nn.Sequential`) and `EnsembleMLP` (n MLPs run
as one chain of batched matmuls, for the maze agent's actor and critics).

Both follow one layer rule, `layer_sizes`: `depth` hidden layers of `width` units between the input and the output,
an activation after every hidden layer. Their layers are created input first, so a seed gives the same weights
wherever an MLP of the same sizes is built.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..common.errors import ConfigError, choose

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU,
               "softplus": nn.Softplus, "leaky_relu": nn.LeakyReLU}


def layer_sizes(in_dim: int, out_dim: int, width: int, depth: int) -> list[int]:
    """[in_dim, width, ..., width, out_dim] with `depth` widths: the sizes of the layers' inputs and outputs."""
    return [in_dim] + [width] * depth + [out_dim]


def mlp(in_dim: int, out_dim: int, *, width: int, depth: int, activation: str = "silu",
        out_activation: str | None = None, spectral_norm: bool = False,
        activate_input: bool = False) -> nn.Sequential:
    """[B, in_dim] -> [B, out_dim]: Linear, act, Linear, act, ..., Linear (then `out_activation`, when given).

    `spectral_norm` bounds each layer's Lipschitz constant. `activate_input` starts with the activation: for an
    input that is already a hidden layer's pre-activation (a first layer split into parts, as in FrameEnergy).
    The Sequential's indices are those of the layers listed, which are the keys of saved weights.
    """
    if min(in_dim, out_dim, width) < 1 or depth < 0:
        raise ConfigError(f"an MLP needs input, output and width >= 1 and depth >= 0 (got in_dim={in_dim}, "
                          f"out_dim={out_dim}, width={width}, depth={depth})")
    act = ACTIVATIONS[choose("activation", activation, ACTIVATIONS)]
    sizes = layer_sizes(in_dim, out_dim, width, depth)
    layers: list[nn.Module] = [act()] if activate_input else []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer = nn.Linear(fan_in, fan_out)
        layers.append(nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer)
        if i < depth:
            layers.append(act())
    if out_activation is not None:
        layers.append(ACTIVATIONS[choose("activation", out_activation, ACTIVATIONS)]())
    return nn.Sequential(*layers)


class EnsembleMLP(nn.Module):
    """`n` independent ReLU MLPs (`layer_sizes`) run as one chain of batched matmuls: [B, in] or [n, B, in] ->
    [n, B, out]. Weights are stored [n, fan_in, fan_out] for `baddbmm` and drawn as nn.Linear draws its own
    (uniform within 1 / sqrt(fan_in)), weight then bias, layer by layer."""

    def __init__(self, n: int, in_dim: int, out_dim: int, *, width: int, depth: int):
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        sizes = layer_sizes(in_dim, out_dim, width, depth)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1 / math.sqrt(a)
            self.weights.append(nn.Parameter(torch.empty(n, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, b).uniform_(-bound, bound)))
        self.n = n

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Run layers from `start` on (start > 0 takes the pre-activation of layer `start - 1`)."""
        if x.dim() == 2:
            x = x.expand(self.n, *x.shape)
        last = len(self.weights) - 1
        for i in range(start, last + 1):
            if i > 0:
                x = F.relu(x)
            x = torch.baddbmm(self.biases[i], x, self.weights[i])
        return x
