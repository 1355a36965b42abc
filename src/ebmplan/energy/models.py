"""Energy networks: a module maps a free variable x [B, D] (and an optional context [B, C]) to energies [B]."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import nn

from ..common.errors import ConfigError
from .nets import ACTIVATIONS, mlp


class EnergyModel(nn.Module, ABC):
    """Base class: `forward(x, context=None) -> [B]`, low energy for data.

    `dim` is the size of the free variable that inference descends over; `context_dim` is 0 for
    unconditional energies F(x) and the size of the conditioning input for conditional ones F(x | c).
    """

    dim: int
    context_dim: int = 0

    @abstractmethod
    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor: ...

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
        self.dim, self.context_dim = dim, context_dim
        self.width, self.depth, self.activation, self.spectral_norm = width, depth, activation, spectral_norm
        self.net = mlp(dim + context_dim, 1, width=width, depth=depth, activation=activation,
                       spectral_norm=spectral_norm)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.context_dim:
            x = torch.cat([x, context], dim=-1)  # [B, D + C]
        return self.net(x).squeeze(-1)  # [B]


GradientFn = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def input_gradient_fn(energy: EnergyModel) -> GradientFn:
    """A function (x [B, D], context [B, C] | None) -> dE/dx [B, D] for inference, with the weights frozen.

    For an `MLPEnergy` the gradient is derived by hand (one forward pass keeping the activations'
    derivatives, then back through the weight matrices), which skips autograd's graph building: at a few
    hundred chains that bookkeeping costs more than the arithmetic. Any other energy uses autograd.
    The weights are read once, so the function is only valid while the parameters do not change; under
    spectral norm the module must be in eval mode (its normalised weights are then fixed).
    """
    if isinstance(energy, MLPEnergy):
        return _mlp_gradient_fn(energy)

    def autograd_gradient(x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(energy(x, context).sum(), x)
        return grad

    return autograd_gradient


Forward = Callable[[torch.Tensor], torch.Tensor]  # z -> act(z)
Backward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (g, z) -> g * act'(z)
Activation = tuple[Forward, Backward]


def _activation_pair(act: nn.Module) -> Activation:
    """(z -> act(z), (g, z) -> g * act'(z)) for the activations in ACTIVATIONS, with the module's settings.

    The backward halves are ATen's fused derivative kernels (one pass over memory each), which matters
    at thousands of chains where the element-wise work no longer fits in cache.
    """
    F, aten = nn.functional, torch.ops.aten
    if isinstance(act, nn.SiLU):
        return F.silu, aten.silu_backward
    if isinstance(act, nn.ReLU):
        return torch.relu, lambda g, z: aten.threshold_backward(g, z, 0)
    if isinstance(act, nn.Tanh):
        return torch.tanh, lambda g, z: aten.tanh_backward(g, torch.tanh(z))
    if isinstance(act, nn.Softplus):
        beta, threshold = act.beta, act.threshold
        return (lambda z: F.softplus(z, beta, threshold),
                lambda g, z: aten.softplus_backward(g, z, beta, threshold))
    if isinstance(act, nn.ELU):
        alpha = act.alpha
        return lambda z: F.elu(z, alpha), lambda g, z: aten.elu_backward(g, alpha, 1, 1, False, z)
    if isinstance(act, nn.GELU):
        approximate = act.approximate
        return (lambda z: F.gelu(z, approximate=approximate),
                lambda g, z: aten.gelu_backward(g, z, approximate=approximate))
    if isinstance(act, nn.LeakyReLU):
        slope = act.negative_slope
        return (lambda z: F.leaky_relu(z, slope),
                lambda g, z: aten.leaky_relu_backward(g, z, slope, False))
    raise ValueError(f"no hand-derived gradient for {type(act).__name__}")


def _mlp_gradient_fn(energy: MLPEnergy) -> GradientFn:
    modules = list(energy.net)
    with torch.no_grad():  # materialise (spectral-normalised) weights once, outside any graph
        linears = [(m.weight.detach().clone(), m.bias.detach().clone()) for m in modules[0::2]]
    acts = [_activation_pair(m) for m in modules[1::2]]
    dim = energy.dim
    w_out = linears[-1][0]  # [1, H]
    w_in_x = linears[0][0][:, :dim].contiguous()  # [H, D]: only the x columns are needed on the way back

    # On a CPU, rows are processed in blocks whose activations (~256 KB each) stay in the L2 cache; the
    # element-wise passes are memory-bound otherwise. A GPU wants the whole batch at once.
    block = max(256, 2**16 // energy.width)

    def block_gradient(x: torch.Tensor) -> torch.Tensor:
        h, pre = x, []
        for (w, b), (forward, _) in zip(linears[:-1], acts, strict=True):
            z = torch.addmm(b, h, w.t())  # [B, H]
            pre.append(z)
            if len(pre) < len(acts):  # the last hidden activation's value is not needed
                h = forward(z)
        g = w_out.expand_as(pre[-1])  # [B, H]: dE/dh of the last hidden layer
        for i in reversed(range(len(acts))):
            g = acts[i][1](g, pre[i])  # dE/dz
            g = g @ (linears[i][0] if i else w_in_x)  # dE/dh of the layer below: [B, H], finally [B, D]
        return g

    def mlp_gradient(x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        if energy.context_dim:
            x = torch.cat([x, context], dim=-1)  # [B, D + C]
        if x.device.type != "cpu" or len(x) <= block:
            return block_gradient(x)
        return torch.cat([block_gradient(part) for part in x.split(block)])

    return mlp_gradient


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
        self.dim, self.context_dim, self.width, self.depth = dim, context_dim, width, depth
        self.layers = nn.ModuleList(nn.Linear(dim if i == 0 else width, width) for i in range(depth))
        self.film = mlp(context_dim, 2 * width * depth, width=width, depth=1, activation=activation)
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        film = self.film(context).reshape(-1, self.depth, 2, self.width)
        scale, shift = film.unbind(2)  # [B, depth, W] each
        h = x
        for i, layer in enumerate(self.layers):
            h = self.act(layer(h) * (1 + scale[:, i]) + shift[:, i])  # [B, W]
        return self.out(h).squeeze(-1)  # [B]
