import math

import pytest
import torch

from ebmplan import metrics
from ebmplan.energy.models import EnergyModel


class Constant(EnergyModel):
    dim = 2

    def forward(self, x, context=None):
        return torch.zeros(len(x))


class Bowl(EnergyModel):
    """E = |x|^2 / 2: at temperature 1 a standard normal (truncated to the box)."""

    dim = 2

    def forward(self, x, context=None):
        return 0.5 * x.pow(2).sum(-1)


def test_precision_is_mean_distance_to_nearest_reference_point():
    ref = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[0.0, 0.3], [1.0, -0.1]])
    assert metrics.precision(samples, ref) == pytest.approx(0.2)


def test_coverage_counts_reference_points_with_a_sample_nearby():
    ref = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    samples = torch.tensor([[0.05, 0.0], [2.0, 0.09]])
    assert metrics.coverage(samples, ref, radius=0.1) == 0.5


def test_nll_of_a_constant_energy_is_the_uniform_nll():
    low, high = torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0])
    pts = torch.rand(100, 2) * (high - low) + low
    out = metrics.nll(Constant(), pts, pts, low, high, resolution=50)
    assert out["nll"] == pytest.approx(math.log(8.0), rel=1e-6) == out["nll_uniform"]


def test_nll_fits_the_temperature_of_a_gaussian():
    torch.manual_seed(0)
    low, high = torch.tensor([-6.0, -6.0]), torch.tensor([6.0, 6.0])
    val, test = torch.randn(4000, 2) * 0.5, torch.randn(4000, 2) * 0.5  # N(0, 0.25 I): T = 0.25 for the bowl
    out = metrics.nll(Bowl(), val, test, low, high, resolution=300)
    assert out["temperature"] == pytest.approx(0.25, rel=0.05)
    gaussian_nll = math.log(2 * math.pi * 0.25) + 1.0  # entropy of N(0, 0.25 I) in 2D
    assert out["nll"] == pytest.approx(gaussian_nll, abs=0.05)
    assert out["nll"] < out["nll_uniform"]


def test_mmd_is_small_for_one_distribution_and_large_for_two():
    torch.manual_seed(0)
    a, b = torch.randn(1000, 2), torch.randn(1000, 2)
    same, shifted = metrics.mmd(a, b), metrics.mmd(a, b + 1.0)
    assert 0 <= same < 0.01 < shifted
