"""The maze agent's replay buffer: every transition it collected, and the exploration data it saves.

`trajectories()` gives the run folder's `trajectories.npz`, the exploration episodes that the replay, sgm and
generator sources of `plan eval` learn from:

- `states`  float32 [T, 2]: every episode's states in order, start state included, episodes one after another;
- `offsets` int64 [E + 1]: episode e is `states[offsets[e]:offsets[e + 1]]`;
- `goals`   float32 [E, 2]: the goal each episode was given;
- `reached` bool [E]: whether it reached that goal (episodes cut by the end of training count as not);
- `walls`   bool [H, W]: the scaled map they were collected in.
"""

from __future__ import annotations

import numpy as np
import torch

from ...common.errors import ConfigError


class Replay:
    """All collected transitions, time-major (row = batch step * n_envs + env), so later states of the same
    episode sit `n_envs` rows apart: hindsight relabelling needs no per-episode bookkeeping."""

    def __init__(self, capacity: int, n_envs: int):
        self.obs = np.zeros((capacity, 2), np.float32)
        self.next = np.zeros((capacity, 2), np.float32)
        self.act = np.zeros((capacity, 2), np.float32)
        self.goal = np.zeros((capacity, 2), np.float32)
        self.reached = np.zeros(capacity, bool)
        self.episode = np.zeros(capacity, np.int64)
        self.size, self.n_envs = 0, n_envs

    def add(self, obs, act, nxt, goal, reached, episode) -> None:
        rows = slice(self.size, self.size + len(obs))
        self.obs[rows], self.act[rows], self.next[rows] = obs, act, nxt
        self.goal[rows], self.reached[rows], self.episode[rows] = goal, reached, episode
        self.size += len(obs)

    def sample(self, rng: np.random.Generator, n: int, relabel: float, horizon: int):
        idx = rng.integers(self.size, size=n)
        goal, reached = self.goal[idx], self.reached[idx]
        swap = rng.random(n) < relabel
        if swap.any():  # a later state of the same episode becomes the goal
            ahead = idx[swap] + self.n_envs * rng.integers(horizon, size=int(swap.sum()))
            ahead = np.where((ahead < self.size) & (self.episode[np.minimum(ahead, self.size - 1)]
                                                    == self.episode[idx[swap]]), ahead, idx[swap])
            goal = goal.copy()
            goal[swap] = self.next[ahead]
            reached = reached.copy()
            reached[swap] = np.linalg.norm(self.next[idx[swap]] - goal[swap], axis=1) < 1
        return [torch.from_numpy(a) for a in (self.obs[idx], self.act[idx], self.next[idx], goal, reached)]

    def trajectories(self, walls: np.ndarray) -> dict[str, np.ndarray]:
        """Per-episode state sequences in the `trajectories.npz` format of the module docstring."""
        n = self.size
        order = np.argsort(self.episode[:n], kind="stable")  # rows of one episode are already in time order
        ep = self.episode[:n][order]
        last = np.flatnonzero(np.r_[ep[1:] != ep[:-1], True])  # last row of each episode
        first = np.r_[0, last[:-1] + 1]
        lengths = last - first + 2  # transitions + the start state
        offsets = np.r_[0, np.cumsum(lengths)]
        states = np.zeros((offsets[-1], 2), np.float32)
        pos = np.arange(n) + np.repeat(np.arange(len(first)), last - first + 1)  # leave one slot per episode
        states[pos] = self.obs[:n][order]
        states[offsets[1:] - 1] = self.next[:n][order][last]
        return {"states": states, "offsets": offsets.astype(np.int64), "goals": self.goal[:n][order][first],
                "reached": self.reached[:n][order][last], "walls": walls}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The transitions collected so far, as tensors (what a checkpoint holds)."""
        return {name: torch.from_numpy(getattr(self, name)[: self.size].copy())
                for name in ("obs", "next", "act", "goal", "reached", "episode")}

    def load_state_dict(self, stored: dict[str, torch.Tensor]) -> None:
        size = len(stored["obs"])
        if size > len(self.obs):
            raise ConfigError(f"the checkpoint's replay holds {size} transitions, more than this run's config "
                              f"allows ({len(self.obs)}); it belongs to another run")
        for name, values in stored.items():
            getattr(self, name)[:size] = values.numpy()
        self.size = size
