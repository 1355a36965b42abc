import pytest
import torch

from ebmplan.common.errors import ConfigError
from ebmplan.energy.models import EnergyModel
from ebmplan.energy.negatives import HardBuffer, Mixture, Perturb, Uniform, parse_negatives

BOX = (torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]))


class FirstCoordinate(EnergyModel):
    """E(x) = x_0: low energy on the left half of the box."""

    dim = 2

    def forward(self, x, context=None):
        return x[:, 0]


def test_uniform_and_perturb_shapes_and_ranges():
    torch.manual_seed(0)
    pos = torch.zeros(5, 2)
    u = Uniform(BOX).sample(pos, 7, FirstCoordinate())
    assert u.shape == (5, 7, 2) and (u >= -1).all() and (u <= 1).all()
    p = Perturb(0.1).sample(pos, 1000, FirstCoordinate())
    assert p.shape == (5, 1000, 2) and p.std().item() == pytest.approx(0.1, rel=0.05)


def test_hard_buffer_samples_low_energy_negatives_more_often():
    torch.manual_seed(0)
    energy = FirstCoordinate()
    hard = HardBuffer(BOX, size=2000, alpha=1.0, refresh=1.0)
    # Positives sit at energy -1 and the margin is 1: negatives with E < 0 are inside the margin.
    hard.observe(torch.zeros(1, 1, 2), torch.zeros(1, 1), torch.full((4,), -1.0), margin=1.0)
    drawn = hard.sample(torch.zeros(256, 2), 8, energy)  # [256, 8, 2]
    left = (drawn[..., 0] < 0).float().mean().item()
    assert left > 0.95  # the right half (E >= 0) has only the tiny eps priority


def test_hard_buffer_priority_grows_as_energy_falls_below_threshold():
    hard = HardBuffer(BOX, size=3, alpha=2.0, refresh=1.0)
    hard.energy = torch.tensor([-1.0, 0.0, 2.0])
    hard.threshold = torch.tensor(1.0)
    p = hard.priorities()
    assert p[0] > p[1] > p[2] and p[0] / p[1] == pytest.approx(4.0, rel=1e-2)  # (2/2 + eps)^2 / (1/2 + eps)^2


def test_alpha_zero_samples_the_buffer_uniformly():
    torch.manual_seed(0)
    hard = HardBuffer(BOX, size=2000, alpha=0.0, refresh=1.0)
    drawn = hard.sample(torch.zeros(256, 2), 8, FirstCoordinate())
    assert 0.4 < (drawn[..., 0] < 0).float().mean().item() < 0.6


def test_hard_buffer_stores_observed_negatives_in_a_ring():
    hard = HardBuffer(BOX, size=4, refresh=1.0)
    neg = torch.arange(12.0).reshape(1, 6, 2)
    hard.observe(neg, torch.zeros(1, 6), torch.zeros(1), margin=1.0)
    assert hard.cursor.item() == 0  # only the first 4 fit, written in order
    assert hard.points.tolist() == neg[0, :4].tolist()


def test_mixture_splits_the_count_by_weight():
    mix = parse_negatives("uniform:3,perturb:1", BOX)
    assert isinstance(mix, Mixture) and mix.counts(8) == {"uniform": 6, "perturb": 2}
    assert mix.sample(torch.zeros(3, 2), 8, FirstCoordinate()).shape == (3, 8, 2)


@pytest.mark.parametrize("spec, message", [
    ("unifrom", "unknown negative kind 'unifrom'"),
    ("uniform:x", "not a number"),
    ("uniform:-1", "weight > 0"),
    ("uniform,uniform", "appears once"),
    ("", "no negatives"),
])
def test_bad_negative_specs_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_negatives(spec, BOX)


def test_a_new_kind_of_data_registers_its_kinds_and_mixes_them():
    from ebmplan.energy.negatives import Negatives, Registry

    class Corners(Negatives):
        def sample(self, pos, n, energy, context=None, index=None):
            return torch.ones(pos.shape[0], n, pos.shape[1])

    kinds = Registry("image negative kind")
    kinds.register("corners")(lambda box, **o: Corners())
    kinds.register("uniform")(lambda box, **o: Uniform(box))
    mix = kinds.mixture("corners:1,uniform:1", BOX)
    neg = mix.sample(torch.zeros(3, 2), 6, FirstCoordinate())
    assert neg.shape == (3, 6, 2) and (neg[:, :3] == 1).all() and (neg[:, 3:] < 1).all()
    with pytest.raises(ValueError, match="unknown image negative kind 'edges'; choose one of: corners, uniform"):
        kinds.make("edges", BOX)
