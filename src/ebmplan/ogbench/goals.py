"""Hindsight goal relabelling over an offline dataset, as OGBench's goal-conditioned methods sample goals.

A dataset is a sequence of trajectories laid end to end; `Trajectories` knows, for each row, the last row of its
trajectory. A batch of rows gets goals from one mixture (OGBench's `GCDataset`):

- with probability `p_current`, the row's own state;
- with probability `p_future`, a later state of the same trajectory, `k` steps ahead: geometric with discount
  `discount` (`k >= 1`, P(k) = (1 - discount) * discount^(k - 1)) or uniform over the rest of the trajectory,
  cut at its last state;
- otherwise a random state of the whole dataset.

The offset `k` is returned too (0 for the current state, -1 for a random one), so a caller can check what a
critic learned against the steps that separate the pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.errors import ConfigError


@dataclass
class Trajectories:
    """Rows of one dataset: observations [N, 2], actions [N, 2], and `ends` [N], the index of the last row of
    each row's trajectory. Rows that are the last of their trajectory have no next state and are never drawn
    as a batch's start rows."""

    observations: np.ndarray
    actions: np.ndarray
    ends: np.ndarray

    @classmethod
    def from_terminals(cls, observations: np.ndarray, actions: np.ndarray, terminals: np.ndarray) -> Trajectories:
        """OGBench's layout: `terminals[i]` is 1 on the last row of each trajectory (the final row counts as one
        even when it is not marked)."""
        terminals = np.asarray(terminals).astype(bool).copy()
        if len(terminals) == 0:
            raise ConfigError("the dataset holds no transitions")
        terminals[-1] = True
        last = np.flatnonzero(terminals)
        ends = last[np.searchsorted(last, np.arange(len(terminals)))]  # [N]: first terminal at or after i
        return cls(np.asarray(observations, np.float32), np.asarray(actions, np.float32), ends)

    def __len__(self) -> int:
        return len(self.observations)

    @property
    def starts(self) -> np.ndarray:
        """Rows that have a next state in their trajectory (every row but the last of each)."""
        return np.flatnonzero(self.ends > np.arange(len(self)))

    def split(self, fraction: float) -> tuple[Trajectories, Trajectories]:
        """(first trajectories, the last `fraction` of them): a held-out part when no validation file exists."""
        firsts = np.r_[0, np.flatnonzero(self.ends[:-1] != self.ends[1:]) + 1]
        if len(firsts) < 2:
            raise ConfigError("the dataset holds one trajectory: none can be held out")
        cut = firsts[min(len(firsts) - 1, max(1, int(round(len(firsts) * (1 - fraction)))))]
        a = Trajectories(self.observations[:cut], self.actions[:cut], self.ends[:cut])
        b = Trajectories(self.observations[cut:], self.actions[cut:], self.ends[cut:] - cut)
        return a, b


@dataclass(frozen=True)
class GoalMix:
    """Where a batch's goals come from (the probabilities of the current and of a future state; the rest are
    random dataset states) and how far ahead a future state lies."""

    p_current: float = 0.0
    p_future: float = 1.0
    geometric: bool = True
    discount: float = 0.99

    def check(self, what: str) -> None:
        if not (0 <= self.p_current and 0 <= self.p_future and self.p_current + self.p_future <= 1):
            raise ConfigError(f"{what}: the current and future goal probabilities must be >= 0 and sum to at "
                              f"most 1, got {self.p_current} and {self.p_future}")
        if not 0 < self.discount < 1:
            raise ConfigError(f"{what}: the discount must be in (0, 1), got {self.discount}")


def sample_goals(rng: np.random.Generator, data: Trajectories, rows: np.ndarray,
                 mix: GoalMix) -> tuple[np.ndarray, np.ndarray]:
    """Goal rows for the start `rows` [B] -> (goal rows [B], offsets [B]: steps ahead, 0 current, -1 random)."""
    B = len(rows)
    u = rng.random(B)
    end = data.ends[rows]
    if mix.geometric:
        ahead = rng.geometric(1 - mix.discount, size=B)  # >= 1
    else:  # uniform over the later states of the trajectory
        ahead = 1 + np.floor(rng.random(B) * np.maximum(end - rows, 1)).astype(np.int64)
    future = np.minimum(rows + ahead, end)
    random = rng.integers(0, len(data), size=B)
    cur = u < mix.p_current
    fut = ~cur & (u < mix.p_current + mix.p_future)
    goals = np.where(cur, rows, np.where(fut, future, random))
    offsets = np.where(cur, 0, np.where(fut, future - rows, -1))
    return goals, offsets
