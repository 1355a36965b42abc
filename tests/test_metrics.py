import math

import numpy as np
import pytest
import torch

from ebmplan.energy.models import EnergyModel
from ebmplan.points import metrics
from ebmplan.points.toy2d import DATASETS


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


# ------------------------------------------------------------------------------- per-family measures

def test_a_perfect_mixture_sampler_scores_perfectly_and_a_collapsed_one_fails_the_mode_count():
    mix = DATASETS["25gaussians"]
    truth = mix.truth(0)
    perfect = torch.as_tensor(mix.sample(np.random.default_rng(0), 5000))
    m = metrics.modes(perfect, truth.centres, truth.std)
    # within 3 std in 2D: 1 - exp(-9/2) = 0.989 of a Gaussian's draws
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert m["modes_covered"] == m["modes"] == 25 and m["mode_balance"] > 0.8
    collapsed = torch.as_tensor(truth.centres[[3]]).repeat(5000, 1)
    m = metrics.modes(collapsed, truth.centres, truth.std)
    assert m["high_quality"] == 1.0 and m["modes_covered"] == 1 and m["mode_balance"] == 0.0
    between = torch.as_tensor(truth.centres[:1] + [0.35, 0.0])  # halfway to the next mode: not high quality
    assert metrics.modes(between, truth.centres, truth.std)["high_quality"] == 0.0


def test_area_measures_count_the_support_and_its_cells():
    board = DATASETS["checkerboard"]
    cells = board.truth(0).cells
    perfect = torch.as_tensor(board.sample(np.random.default_rng(0), 5000))
    assert metrics.support(perfect, cells) == {"in_support": 1.0, "cells_hit": 1.0}
    one_square = torch.rand(1000, 2) * 2 - torch.tensor([4.0, 4.0])  # the square [-4, -2)^2 only
    m = metrics.support(one_square, cells)
    assert m["in_support"] == 1.0 and m["cells_hit"] == pytest.approx(1 / 8)
    off = torch.rand(1000, 2) * 2 + torch.tensor([0.0, -2.0])  # the empty square [0, 2) x [-2, 0)
    assert metrics.support(off, cells)["in_support"] == 0.0


def test_family_measures_follow_the_data_family():
    assert metrics.family_measures(torch.zeros(4, 2), None) == {}
    assert set(metrics.family_measures(torch.zeros(4, 2), DATASETS["8gaussians"].truth(0))) == {
        "high_quality", "modes_covered", "modes", "mode_balance"}
    assert set(metrics.family_measures(torch.zeros(4, 2), DATASETS["checkerboard"].truth(0))) == {
        "in_support", "cells_hit"}


def test_kde_chooses_a_bandwidth_on_validation_and_nears_the_true_nll():
    torch.manual_seed(0)
    train, val, test = torch.randn(5000, 2), torch.randn(1000, 2), torch.randn(1000, 2)
    out = metrics.kde_nll(train, val, test)
    silverman = 5000 ** (-1 / 6)  # the rule-of-thumb bandwidth of a 2D standard normal: 0.24
    assert 0.5 * silverman < out["kde_bandwidth"] < 2 * silverman
    entropy = math.log(2 * math.pi) + 1.0  # NLL of N(0, I) in 2D, the floor
    assert entropy < out["nll_kde"] < entropy + 0.15  # a KDE pays for its smoothing


def test_the_generator_nll_is_the_floor_no_model_beats_on_average():
    mix = DATASETS["8gaussians"]
    test = mix.sample(np.random.default_rng(5), 20000)
    own = -mix.truth(0).log_density(test).mean()
    wider = -(DATASETS["8gaussians"].__class__(mix.centres, 1.3 * mix.std).log_density(test)).mean()
    assert own < wider
    entropy = math.log(8) + math.log(2 * math.pi * mix.std**2) + 1  # well-separated modes: log K + a mode's
    assert own == pytest.approx(entropy, abs=0.02)
