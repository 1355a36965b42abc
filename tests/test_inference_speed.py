"""The fast inference path computes the same thing as autograd (correctness only; speed is benchmarked)."""

import math

import pytest
import torch

from ebmplan.energy.inference import descend, step_size_at
from ebmplan.energy.models import ACTIVATIONS, EnergyModel, MLPEnergy, input_gradient_fn


def autograd_gradient(energy, x, context=None):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(x, context).sum(), x)
    return grad


class Wrapped(EnergyModel):
    """The same network behind a class the fast path does not know: descend falls back to autograd."""

    def __init__(self, inner: MLPEnergy):
        super().__init__()
        self.inner, self.dim, self.context_dim = inner, inner.dim, inner.context_dim

    def forward(self, x, context=None):
        return self.inner(x, context)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("context_dim", [0, 3])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_fast_gradient_matches_autograd(activation, context_dim, spectral_norm):
    torch.manual_seed(0)
    energy = MLPEnergy(2, width=24, depth=3, activation=activation, spectral_norm=spectral_norm,
                       context_dim=context_dim).double().eval()
    x = 2 * torch.randn(200, 2, dtype=torch.double)  # wide enough to cross every activation's kink
    context = torch.randn(200, context_dim, dtype=torch.double) if context_dim else None
    fast = input_gradient_fn(energy)(x, context)
    assert fast.shape == (200, 2)
    torch.testing.assert_close(fast, autograd_gradient(energy, x, context), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("module", [torch.nn.GELU(approximate="tanh"), torch.nn.LeakyReLU(0.2),
                                    torch.nn.ELU(alpha=0.5), torch.nn.Softplus(beta=2.0, threshold=5.0)])
def test_fast_gradient_uses_the_activation_settings(module):
    torch.manual_seed(1)
    energy = MLPEnergy(3, width=16, depth=2)
    energy.net[1] = energy.net[3] = module
    x = 3 * torch.randn(100, 3)
    torch.testing.assert_close(input_gradient_fn(energy)(x, None), autograd_gradient(energy, x))


@pytest.mark.parametrize("width, depth, rows", [(128, 1, 64), (512, 2, 1000)])  # 1000 rows: several blocks
def test_fast_gradient_in_float32(width, depth, rows):
    torch.manual_seed(2)
    energy = MLPEnergy(2, width=width, depth=depth, context_dim=1)
    x, c = torch.randn(rows, 2), torch.randn(rows, 1)
    torch.testing.assert_close(input_gradient_fn(energy)(x, c), autograd_gradient(energy, x, c),
                               rtol=1e-4, atol=1e-6)


def test_other_energies_fall_back_to_autograd():
    torch.manual_seed(3)
    energy = Wrapped(MLPEnergy(2, width=16, context_dim=2))
    x, c = torch.randn(10, 2), torch.randn(10, 2)
    with torch.no_grad():  # the fallback must build its own graph even inside no_grad
        grad = input_gradient_fn(energy)(x, c)
    torch.testing.assert_close(grad, autograd_gradient(energy, x, c))


def reference_descend(energy, x0, *, context=None, steps, step_size, final_step_size=None,
                      schedule="constant",
                      tol=1e-4, max_move=None, box=None, noise=0.0, generator=None):
    """The textbook loop, one autograd call per step over the still-active rows: what descend must equal."""
    final = step_size if final_step_size is None else final_step_size
    x = x0.clone()
    converged = torch.zeros(len(x), dtype=torch.bool)
    taken = torch.zeros(len(x), dtype=torch.long)
    for t in range(steps):
        active = (~converged).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        xa = x[active]
        grad = autograd_gradient(energy, xa, None if context is None else context[active])
        lr = step_size_at(t, steps, step_size, final, schedule)
        move = -lr * grad
        if max_move is not None:
            move = move * (max_move / move.norm(dim=1, keepdim=True).clamp_min(max_move))
        if noise > 0:
            move = move + noise * math.sqrt(2 * lr) * torch.randn(xa.shape, generator=generator)
        new = xa + move
        if box is not None:
            new = torch.maximum(torch.minimum(new, box[1]), box[0])
        step_len = (new - xa).norm(dim=1) if noise == 0 else (lr * grad).norm(dim=1)
        x[active] = new
        taken[active] += 1
        converged[active] = step_len < tol
    return x, converged, taken


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("context_dim", [0, 2])
def test_descend_matches_the_reference_loop(fast, context_dim):
    torch.manual_seed(4)
    mlp = MLPEnergy(2, width=32, activation="tanh", context_dim=context_dim)
    energy = mlp if fast else Wrapped(mlp)
    box = (torch.tensor([-1.5, -1.0]), torch.tensor([1.0, 1.5]))
    x0 = torch.rand(300, 2) * 2.5 - 1.25
    context = torch.randn(300, context_dim) if context_dim else None
    options = dict(context=context, steps=150, step_size=0.05, final_step_size=0.005, schedule="cosine",
                   tol=1e-4, max_move=0.03, box=box)
    out = descend(energy, x0, **options)
    x, converged, taken = reference_descend(energy, x0, **options)
    assert 0 < converged.sum() < len(x0)  # some rows converge mid-way, some never: both paths are exercised
    assert torch.equal(out.converged, converged) and torch.equal(out.steps, taken)
    torch.testing.assert_close(out.samples, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("max_move", [None, 0.01])
def test_langevin_matches_the_reference_loop(max_move):
    torch.manual_seed(4)
    energy = MLPEnergy(2, width=32, activation="tanh")
    box = (torch.tensor([-1.5, -1.0]), torch.tensor([1.0, 1.5]))
    x0 = torch.rand(300, 2) * 2.5 - 1.25
    options = dict(steps=40, step_size=0.01, noise=0.3, tol=2e-4, box=box, max_move=max_move)
    out = descend(energy, x0, generator=torch.Generator().manual_seed(7), **options)
    x, converged, taken = reference_descend(energy, x0, generator=torch.Generator().manual_seed(7), **options)
    assert 0 < converged.sum() < len(x0)
    assert torch.equal(out.converged, converged) and torch.equal(out.steps, taken)
    torch.testing.assert_close(out.samples, x, rtol=1e-5, atol=1e-5)


def test_descend_leaves_parameters_and_mode_untouched():
    energy = MLPEnergy(2, width=16, spectral_norm=True)
    energy.train()
    before = {k: v.clone() for k, v in energy.state_dict().items()}
    descend(energy, torch.randn(32, 2), steps=5)
    assert energy.training
    assert all(torch.equal(before[k], v) for k, v in energy.state_dict().items())
