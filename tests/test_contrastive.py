import pytest
import torch
from torch import nn

from ebmplan.common.errors import Divergence
from ebmplan.energy.contrastive import ContrastiveStep, pair_energies
from ebmplan.energy.losses import make_loss
from ebmplan.energy.models import EnergyModel, MLPEnergy
from ebmplan.energy.negatives import Drawn, HardBuffer, Uniform
from ebmplan.energy.step import GradientStep

BOX = (torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]))


def contrastive(energy, negatives, loss="margin", n=4, lr=1e-2):
    update = GradientStep(energy, torch.optim.Adam(energy.parameters(), lr=lr), what="test energy")
    return ContrastiveStep(energy, update, negatives, make_loss(loss), n_negatives=n)


def test_steps_lower_the_data_below_the_negatives():
    torch.manual_seed(0)
    energy = MLPEnergy(2, width=16, depth=2)
    step = contrastive(energy, Uniform(BOX), loss="log")
    data = 0.1 * torch.randn(512, 2) + 0.5  # a blob in one corner of the box
    gaps = []
    for i in range(1, 201):
        out = step(data[torch.randint(len(data), (64,))], i)
        gaps.append((out.e_neg.mean() - out.e_pos.mean()).item())
    assert sum(gaps[-20:]) / 20 > sum(gaps[:20]) / 20 + 1.0


def test_the_energy_matrix_has_the_positive_in_column_0():
    torch.manual_seed(0)
    energy = MLPEnergy(2, width=8, depth=1)
    pos = torch.rand(5, 2)
    out = contrastive(energy, Uniform(BOX), n=3, lr=0.0)(pos, 1)
    with torch.no_grad():
        assert out.energies.shape == (5, 4) and out.neg.shape == (5, 3, 2)
        assert torch.allclose(out.energies[:, 0], energy(pos), atol=1e-6)
        assert torch.allclose(out.energies[:, 1:], energy.energies(out.neg), atol=1e-6)


def test_one_pass_and_per_row_energies_agree():
    torch.manual_seed(0)
    energy = MLPEnergy(2, width=8, depth=2, context_dim=3)
    pos, neg, context = torch.rand(4, 2), torch.rand(4, 6, 2), torch.rand(4, 3)
    e_pos, e_neg, seen = pair_energies(energy, pos, context, neg)
    assert e_neg.shape == (4, 6) and seen is e_neg
    plain = MLPEnergy(2, width=8, depth=2)
    e_pos, e_neg, _ = pair_energies(plain, pos, None, neg)  # one forward pass over the 4 + 24 rows
    assert torch.allclose(e_pos, plain(pos)) and torch.allclose(e_neg, plain.energies(neg), atol=1e-6)


def test_the_hard_buffer_sees_every_negative_of_the_step():
    torch.manual_seed(0)
    hard = HardBuffer(BOX, size=100)
    step = contrastive(MLPEnergy(2, width=8, depth=1), hard, n=4)
    out = step(torch.rand(8, 2), 1)
    assert hard.cursor.item() == 32 and torch.equal(hard.points[:32], out.neg.reshape(-1, 2))


class Slope(EnergyModel):
    """E(x) = w * x_0 with one weight."""

    dim = 2

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x, context=None):
        return self.w * x[:, 0]


def test_infinite_energies_stop_the_step_even_with_a_finite_loss():
    far = Drawn(lambda count: torch.full((count, 2), float("inf")))  # E- = +inf: the margin loss is 0, finite
    with pytest.raises(Divergence, match="at step 7: the energies of the test energy are not finite"):
        contrastive(Slope(), far)(torch.zeros(4, 2), 7)
