import math

import pytest
import torch

from ebmplan.common.errors import ConfigError
from ebmplan.energy.losses import LOSSES, loss_options, make_loss

E_POS = torch.tensor([0.0, 1.0])
E_NEG = torch.tensor([[0.5, 3.0], [0.0, 2.5]])


def OPTIONS(name):
    """margin 1, temperature 1, l2 0.1: each loss gets the ones it takes."""
    return {k: v for k, v in {"margin": 1.0, "temperature": 1.0, "l2": 0.1}.items() if k in loss_options(name)}


def softplus(v):
    return math.log1p(math.exp(v))


@pytest.mark.parametrize("name, expected", [
    # mean over (b, j) of max(0, E+ - E- + 1): (0.5 + 0 + 2 + 0) / 4
    ("margin", (0.5 + 0.0 + 2.0 + 0.0) / 4),
    # most offending negative per row: max(0, 0 - 0.5 + 1), max(0, 1 - 0 + 1)
    ("hinge", (0.5 + 2.0) / 2),
    ("log", (softplus(-0.5) + softplus(-3.0) + softplus(1.0) + softplus(-1.5)) / 4),
    # mean E+^2 + mean max(0, 1 - E-)^2
    ("square-square", (0 + 1) / 2 + (0.25 + 0 + 1 + 0) / 4),
    ("square-exp", (0 + 1) / 2 + (math.exp(-0.5) + math.exp(-3) + 1 + math.exp(-2.5)) / 4),
    ("infonce", (-math.log(1 / (1 + math.exp(-0.5) + math.exp(-3.0)))
                 - math.log(math.exp(-1) / (math.exp(-1) + 1 + math.exp(-2.5)))) / 2),
    # mean E+ - mean E- + 0.1 * (mean E+^2 + mean E-^2)
    ("cd", 0.5 - 1.5 + 0.1 * (0.5 + (0.25 + 9 + 0 + 6.25) / 4)),
])
def test_loss_matches_hand_computed_value(name, expected):
    value = make_loss(name, **OPTIONS(name))(E_POS, E_NEG)
    assert value.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["margin", "hinge", "square-square"])
def test_margin_losses_are_zero_once_negatives_clear_the_margin(name):
    e_pos = torch.zeros(4)
    assert make_loss(name, margin=1.0)(e_pos, torch.full((4, 3), 1.01)).item() == 0.0
    assert make_loss(name, margin=1.0)(e_pos, torch.full((4, 3), 0.99)).item() > 0.0


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_lowers_positives_and_raises_negatives(name):
    e_pos = torch.tensor([0.3, 0.2], requires_grad=True)
    e_neg = torch.tensor([[0.1, 0.4], [0.5, 0.0]], requires_grad=True)
    make_loss(name, **OPTIONS(name))(e_pos, e_neg).backward()
    assert (e_pos.grad > 0).all()  # descending the loss lowers positive energies
    assert (e_neg.grad <= 0).all() and (e_neg.grad < 0).any()


def test_hinge_uses_only_the_most_offending_negative():
    e_neg = torch.tensor([[0.2, 5.0, 7.0]], requires_grad=True)
    make_loss("hinge", margin=1.0)(torch.tensor([0.0]), e_neg).backward()
    assert e_neg.grad.tolist() == [[-1.0, 0.0, 0.0]]


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown loss 'hinj'.*margin"):
        make_loss("hinj")


def test_a_misspelled_or_foreign_loss_option_is_an_error():
    with pytest.raises(ConfigError, match="the margin loss takes only margin, not margn"):
        make_loss("margin", margn=5.0)
    with pytest.raises(ConfigError, match="the log loss takes no options, not temperature"):
        make_loss("log", temperature=2.0)
    assert loss_options("cd") == ("l2",) and loss_options("infonce") == ("temperature",)


def test_loss_options_reach_the_loss():
    e_pos, e_neg = torch.zeros(3), torch.zeros(3, 2)
    assert make_loss("cd", l2=0.0)(e_pos + 1, e_neg).item() == pytest.approx(1.0)
    assert make_loss("cd", l2=1.0)(e_pos + 1, e_neg).item() == pytest.approx(2.0)
    hot, cold = make_loss("infonce", temperature=0.1), make_loss("infonce", temperature=10.0)
    assert hot(e_pos, e_neg + 1).item() < cold(e_pos, e_neg + 1).item()
