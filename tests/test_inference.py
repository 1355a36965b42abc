import pytest
import torch

from ebmplan.common.errors import ConfigError
from ebmplan.energy.inference import descend
from ebmplan.energy.models import EnergyModel


class Quadratic(EnergyModel):
    """E(x) = |x - c|^2 / 2, minimum at c."""

    def __init__(self, c):
        super().__init__()
        self.dim = len(c)
        self.c = torch.nn.Parameter(torch.tensor(c))

    def forward(self, x, context=None):
        return 0.5 * (x - self.c).pow(2).sum(-1)


def test_descent_converges_to_the_minimum_of_a_quadratic():
    torch.manual_seed(0)
    energy = Quadratic([0.3, -0.7])
    out = descend(energy, torch.randn(64, 2) * 3, steps=500, step_size=0.2, tol=1e-6)
    assert out.converged.all()
    assert torch.allclose(out.samples, energy.c.detach().expand(64, 2), atol=1e-4)
    assert (out.steps < 500).all() and (out.steps > 1).all()


def test_non_convergence_is_reported_honestly():
    energy = Quadratic([0.0, 0.0])
    out = descend(energy, torch.full((8, 2), 5.0), steps=3, step_size=0.01, tol=1e-6)
    assert not out.converged.any() and (out.steps == 3).all()


def test_converged_samples_stop_moving_and_count_their_steps():
    energy = Quadratic([0.0, 0.0])
    x0 = torch.tensor([[0.0, 0.0], [4.0, 4.0]])  # the first starts at the minimum
    out = descend(energy, x0, steps=200, step_size=0.1, tol=1e-5)
    assert out.steps[0].item() == 1 and out.steps[1].item() > 50


def test_box_clamp_and_max_move():
    energy = Quadratic([5.0, 5.0])  # minimum outside the box
    box = (torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]))
    out = descend(energy, torch.zeros(4, 2), steps=300, step_size=1.0, max_move=0.01, box=box, tol=1e-6)
    assert torch.allclose(out.samples, torch.ones(4, 2))  # pressed against the corner
    assert out.converged.all()  # ... where it no longer moves
    one = descend(energy, torch.zeros(1, 2), steps=1, step_size=1.0, max_move=0.01, box=box)
    assert one.samples.norm().item() == pytest.approx(0.01, rel=1e-5)


def test_step_size_schedules_and_langevin_noise():
    energy = Quadratic([0.0, 0.0])
    x0 = torch.full((256, 2), 2.0)
    for schedule in ("constant", "cosine", "exponential"):
        out = descend(energy, x0, steps=300, step_size=0.1, final_step_size=0.01, schedule=schedule, tol=0)
        assert out.samples.abs().max() < 1e-2
    g = torch.Generator().manual_seed(0)
    noisy = descend(energy, x0, steps=400, step_size=0.05, noise=1.0, tol=0, generator=g)
    # Langevin on E = |x|^2/2 at noise 1 samples N(0, I), approximately
    assert noisy.samples.std().item() == pytest.approx(1.0, abs=0.15)


def test_unknown_schedule_is_a_config_error():
    with pytest.raises(ConfigError, match="schedule"):
        descend(Quadratic([0.0]), torch.zeros(1, 1), schedule="linear")
