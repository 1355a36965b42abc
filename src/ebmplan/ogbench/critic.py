"""The contrastive critic (CRL, Eysenbach et al. 2022) and the distance the planner reads from it.

`ContrastiveCritic` scores a (state[, action], goal) pair with the energy `E = -phi(s[, a])^T psi(g) / sqrt(dim)`:
low where g is a likely future of s. It is trained on the B x B energy matrix of a batch (row i: start i, column
j: goal j; the positive pairs on the diagonal, every other goal of the batch a negative) with ebmplan's own
InfoNCE (`energy/losses.py`), over rows *and* columns (`contrastive_loss`). InfoNCE over rows alone leaves
each row's energies free up to a constant of that start state; the column term pins each goal's constant too,
so energies of different start states compare, which a graph over states needs.

At the optimum, -E = log p(g | s) / p(g) + const, where p(g | s) is the discounted future-state distribution
(geometric over steps): the energy grows about linearly with the steps between s and g for near pairs and
flattens far away. `Calibration` maps energy to steps: an isotonic (non-decreasing) fit of a low quantile of the
steps between held-out pairs from the same trajectories against their energy, so a distance is in environment steps and
monotone in the energy by construction; whether it is monotone in the true steps is what `monotonicity`
measures on held-out trajectories.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from ..energy.losses import Loss
from .goals import Trajectories


def mlp(inp: int, width: int, depth: int, out: int) -> nn.Sequential:
    """ReLU MLP with layer norm after each hidden layer (OGBench's value networks use layer norm)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inp if i == 0 else width, width), nn.LayerNorm(width), nn.ReLU()]
    layers.append(nn.Linear(width if depth else inp, out))
    return nn.Sequential(*layers)


class Normaliser(nn.Module):
    """Observations -> zero mean, unit variance, with the training data's statistics (buffers, so saved)."""

    def __init__(self, mean=(0.0, 0.0), std=(1.0, 1.0)):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


FORMS = ("dot", "l2")


class ContrastiveCritic(nn.Module):
    """E(s, [a,] g) from representations phi(s[, a]) and psi(g) of size `dim`: `dot`, CRL's inner product
    -phi^T psi / sqrt(dim); `l2`, the Euclidean distance |phi - psi| (zero for phi = psi, so a state's energy
    to itself cannot float with the state). With `action=False` it is a goal-conditioned value."""

    def __init__(self, *, action: bool, width: int, depth: int, dim: int, form: str = "dot"):
        super().__init__()
        self.action, self.dim, self.form = action, dim, form
        self.phi = mlp(4 if action else 2, width, depth, dim)
        self.psi = mlp(2, width, depth, dim)

    def state_rep(self, s: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        """[B, 2] normalised states (and [B, 2] actions) -> [B, dim]."""
        return self.phi(torch.cat([s, a], -1) if self.action else s)

    def goal_rep(self, g: torch.Tensor) -> torch.Tensor:
        return self.psi(g)  # [B, 2] -> [B, dim]

    def pair(self, phi: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """Energies of every start representation [M, dim] with every goal representation [N, dim]: [M, N]."""
        if self.form == "l2":
            return torch.cdist(phi, psi)
        return -(phi @ psi.T) / math.sqrt(self.dim)

    def matrix(self, s: torch.Tensor, a: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        """Energies of every start with every goal of a batch: [B, B], entry (i, j) = E(s_i, a_i, g_j)."""
        return self.pair(self.state_rep(s, a), self.goal_rep(g))

    def energy(self, s: torch.Tensor, a: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        """Energies of matched pairs, [B]."""
        phi, psi = self.state_rep(s, a), self.goal_rep(g)
        if self.form == "l2":
            return (phi - psi).pow(2).sum(-1).add(1e-12).sqrt()
        return -(phi * psi).sum(-1) / math.sqrt(self.dim)


def contrastive_loss(matrix: torch.Tensor, loss: Loss) -> torch.Tensor:
    """The B x B form with in-batch negatives: `loss(e_pos [B], e_neg [B, B-1])` over the rows (each start
    against every batch goal) plus the same over the columns (each goal against every batch start)."""
    B = len(matrix)
    off = ~torch.eye(B, dtype=torch.bool, device=matrix.device)
    pos = matrix.diagonal()
    rows = loss(pos, matrix[off].reshape(B, B - 1))
    cols = loss(pos, matrix.T[off].reshape(B, B - 1))
    return (rows + cols) / 2


class Calibration(nn.Module):
    """Energy -> environment steps, piecewise linear through `knots` (energy, steps) pairs, non-decreasing."""

    def __init__(self, knots: int = 40):
        super().__init__()
        self.register_buffer("energy", torch.linspace(0, 1, knots))
        self.register_buffer("steps", torch.linspace(1, 2, knots))

    def fit(self, energy: np.ndarray, steps: np.ndarray, quantile: float) -> None:
        """Isotonic fit of `steps` [P] against `energy` [P]: equal-count bins by energy, each bin's `quantile` of
        steps, made non-decreasing by pooling adjacent violators (a pooled run of bins takes their mean).

        A low quantile, not the mean: the steps between two states of one trajectory only bound the distance
        from above (a noisy trajectory wanders off and comes back), so pairs with one energy have steps spread
        far above the shortest way."""
        order = np.argsort(energy)
        bins = np.array_split(order, len(self.energy))
        e = np.array([energy[b].mean() for b in bins])
        merged: list[list[float]] = []  # [value, bins pooled]
        for value in (float(np.quantile(steps[b], quantile)) for b in bins):
            merged.append([value, 1])
            while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
                (v2, n2), (v1, n1) = merged.pop(), merged.pop()
                merged.append([(v1 * n1 + v2 * n2) / (n1 + n2), n1 + n2])
        fitted = np.concatenate([[v] * int(n) for v, n in merged])
        self.energy.copy_(torch.as_tensor(np.maximum.accumulate(e), dtype=torch.float32))
        self.steps.copy_(torch.as_tensor(fitted, dtype=torch.float32))

    def forward(self, energy: np.ndarray) -> np.ndarray:
        return np.interp(energy, self.energy.cpu().numpy(), self.steps.cpu().numpy())


class Distance(nn.Module):
    """The planner's distance: a value critic E(s, g) and its calibration to steps, on raw observations."""

    def __init__(self, value: ContrastiveCritic, norm: Normaliser, calibration: Calibration):
        super().__init__()
        self.value, self.norm, self.calibration = value, norm, calibration

    @torch.no_grad()
    def energy(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """[B, 2], [B, 2] -> [B] energies of matched pairs."""
        s, g = (self.norm(torch.as_tensor(x, dtype=torch.float32).reshape(-1, 2)) for x in (states, goals))
        return self.value.energy(s, None, g).numpy().astype(np.float64)

    def __call__(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """Steps from each state to its goal, [B, 2] x [B, 2] -> [B]."""
        return self.calibration(self.energy(states, goals))

    @torch.no_grad()
    def reps(self, states: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """[N, 2] -> (as starts phi [N, dim], as goals psi [N, dim]): many pairs then cost one `pair_steps`."""
        x = self.norm(torch.as_tensor(states, dtype=torch.float32).reshape(-1, 2))
        return self.value.state_rep(x), self.value.goal_rep(x)

    @torch.no_grad()
    def pair_steps(self, phi: torch.Tensor, psi: torch.Tensor) -> np.ndarray:
        """Steps from every start representation [M, dim] to every goal representation [N, dim], [M, N]."""
        return self.calibration(self.value.pair(phi, psi).numpy().astype(np.float64))

    def pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Steps from every state of `a` [M, 2] to every state of `b` [N, 2], [M, N]."""
        return self.pair_steps(self.reps(a)[0], self.reps(b)[1])


def held_out_pairs(rng: np.random.Generator, data: Trajectories, n: int, horizon: int) -> tuple[np.ndarray, ...]:
    """`n` pairs (row, later row of the same trajectory, steps between them), the steps uniform in
    [1, horizon] cut at the trajectory's end: what a calibration is fitted on."""
    rows = rng.choice(data.starts, size=n)
    ahead = 1 + np.floor(rng.random(n) * np.minimum(horizon, data.ends[rows] - rows)).astype(np.int64)
    return rows, rows + ahead, ahead


def monotonicity(distance: Distance, data: Trajectories, rng: np.random.Generator, *, trajectories: int = 50,
                 horizon: int = 200) -> float:
    """Along held-out trajectories, is the distance to a fixed goal larger the more steps are left?

    For `trajectories` random segments of `horizon` steps (whole trajectories shorter than that are skipped),
    the goal is the segment's last state and every earlier state is measured against it; returns the mean
    Spearman rank correlation between steps left and distance (1 = perfectly monotone)."""
    starts = data.starts[data.ends[data.starts] - data.starts >= horizon]
    if len(starts) == 0:
        return float("nan")
    rhos = []
    for row in rng.choice(starts, size=min(trajectories, len(starts)), replace=False):
        states = data.observations[row:row + horizon]
        goal = np.repeat(data.observations[row + horizon][None], horizon, 0)
        d = distance.energy(states, goal)  # the calibration is monotone: ranks are the energy's
        rhos.append(spearmanr(np.arange(horizon, 0, -1), d).statistic)
    return float(np.nanmean(rhos))
