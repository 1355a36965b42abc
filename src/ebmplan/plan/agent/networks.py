"""SORB's goal-conditioned agent: a DDPG-style actor and a distributional critic ensemble measuring distance.

The critic predicts, for state s, goal g and action a, a distribution over the number of steps to reach g:
bin k means "k + 1 steps", the last bin "`bins` steps or more". With reward -1 per step and discount 1, the
Bellman target shifts the next state's distribution one bin right (the last bin absorbs the overflow), and a
step that reaches the goal targets bin 0. The distance between s and g is the expected step count under the
actor's action, taken pessimistically (the largest) over the ensemble.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...energy.nets import EnsembleMLP


class DistanceAgent(nn.Module):
    """Actor pi(s, g) in [-1, 1]^2 and an ensemble of distributional critics over `bins` distance bins."""

    def __init__(self, high, *, width: int = 256, depth: int = 2, ensemble: int = 3, bins: int = 20):
        super().__init__()
        self.register_buffer("high", torch.as_tensor(np.asarray(high, dtype=np.float32)))  # map size [2]
        self.actor = EnsembleMLP(1, 4, 2, width=width, depth=depth)  # [s, g] -> action
        self.critic = EnsembleMLP(ensemble, 6, bins, width=width, depth=depth)  # [s, g, a] -> distance logits
        self.register_buffer("steps", torch.arange(1, bins + 1, dtype=torch.float32))  # bin k = k + 1 steps
        self.bins = bins

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.high * 2 - 1  # map coordinates -> [-1, 1]

    def act(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """[B, 2], [B, 2] (map coordinates) -> [B, 2] actions."""
        return torch.tanh(self.actor(torch.cat([self.norm(states), self.norm(goals)], -1))[0])

    def logits(self, states: torch.Tensor, goals: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """-> [E, B, bins] distance logits of every critic."""
        return self.critic(torch.cat([self.norm(states), self.norm(goals), actions], -1))

    def expected_steps(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits, -1) @ self.steps  # [E, B]

    @torch.no_grad()
    def action(self, states, goals):
        """The deterministic action from each state towards its goal, [B, 2] x [B, 2] -> [B, 2].

        Accepts numpy arrays or tensors and returns the same kind (numpy on the CPU).
        """
        (s, g), to_numpy = self._tensors(states, goals)
        out = self.act(s, g)
        return out.cpu().numpy() if to_numpy else out

    @torch.no_grad()
    def distance(self, states, goals):
        """Expected steps from each state to its goal, [B, 2] x [B, 2] -> [B] (max over the ensemble).

        Accepts numpy arrays or tensors and returns the same kind.
        """
        (s, g), to_numpy = self._tensors(states, goals)
        out = torch.cat([self.expected_steps(self.logits(a, b, self.act(a, b))).amax(0)
                         for a, b in zip(s.split(65536), g.split(65536), strict=True)])
        return out.cpu().numpy().astype(np.float64) if to_numpy else out

    @torch.no_grad()
    def pairwise_distance(self, states, *, cutoff: float | None = None, chunk: int = 2048):
        """[N, 2] states -> [N, N] distances, entry (i, j) from state i to state j.

        The first layers act on [s, g] linearly, so their state and goal parts are computed once per state and
        summed per pair (a broadcast add over a block of rows, not a gather). With `cutoff`, pairs whose
        Chebyshev distance exceeds `cutoff + 1` are skipped and set to inf: a step moves at most 1 along each
        axis, so those cannot be reached within `cutoff` steps. `chunk`: pairs evaluated at once.
        """
        (s,), to_numpy = self._tensors(states)
        n, x = len(s), self.norm(s)
        wa, ba = self.actor.weights[0][0], self.actor.biases[0][0]  # [4, H], [1, H]
        wc, bc = self.critic.weights[0], self.critic.biases[0]  # [E, 6, H], [E, 1, H]
        a_s, a_g = x @ wa[:2] + ba, x @ wa[2:4]  # [N, H] each
        c_s, c_g = torch.einsum("nd,edh->enh", x, wc[:, :2]) + bc, torch.einsum("nd,edh->enh", x, wc[:, 2:4])
        E, H = c_s.shape[0], c_s.shape[2]
        if cutoff is None:
            out = torch.empty(n, n, device=s.device)
            rows = max(1, chunk // max(n, 1))

            @torch.no_grad()  # grad mode is per thread
            def fill(first: int, last: int) -> None:
                for r in range(first, last, rows):
                    i = slice(r, min(r + rows, last))
                    h_actor = (a_s[i, None] + a_g[None]).reshape(1, -1, H)  # [1, rows * N, H]
                    h_critic = (c_s[:, i, None] + c_g[:, None]).reshape(E, -1, H)  # [E, rows * N, H]
                    out[i] = self._pair_tail(h_actor, h_critic, wc[:, 4:6]).reshape(-1, n)

            threads = torch.get_num_threads()
            if s.device.type != "cpu" or threads == 1 or n < 2 * threads * rows:
                fill(0, n)
            else:
                # These 128-wide products scale poorly over cores one at a time (1.3x on two); row blocks in
                # parallel threads, one core each, do better (1.6x). Torch's thread count is process-wide, so
                # it is lowered only for this call.
                edges = np.linspace(0, n, threads + 1).round().astype(int)
                torch.set_num_threads(1)
                try:
                    with ThreadPoolExecutor(threads) as pool:
                        list(pool.map(fill, edges[:-1], edges[1:]))
                finally:
                    torch.set_num_threads(threads)
        else:
            near = (s[:, None] - s[None]).abs().amax(-1) <= cutoff + 1  # [N, N]
            pairs = near.flatten().nonzero().squeeze(1)
            out = torch.full((n * n,), math.inf, device=s.device)
            for p in pairs.split(chunk):
                i, j = p // n, p % n
                out[p] = self._pair_tail((a_s[i] + a_g[j])[None], c_s[:, i] + c_g[:, j], wc[:, 4:6])
            out = out.reshape(n, n)
        return out.cpu().numpy().astype(np.float64) if to_numpy else out

    def _pair_tail(self, h_actor: torch.Tensor, h_critic: torch.Tensor, w_action: torch.Tensor) -> torch.Tensor:
        """The layers after the first, given the first layers' pre-activations of P pairs: actor [1, P, H],
        critics [E, P, H] (without the action's part, `w_action` [E, 2, H]) -> [P] distances. In place: no grad."""
        act = torch.tanh_(self._hidden(self.actor, h_actor)[0])  # [P, 2]
        h_critic.baddbmm_(act.expand(len(w_action), *act.shape), w_action)
        return self.expected_steps(self._hidden(self.critic, h_critic)).amax(0)

    @staticmethod
    def _hidden(mlp: EnsembleMLP, h: torch.Tensor) -> torch.Tensor:
        """`mlp` from its second layer on, ReLUs in place on `h` and on every intermediate."""
        for w, b in zip(list(mlp.weights)[1:], list(mlp.biases)[1:], strict=True):
            h = torch.baddbmm(b, h.relu_(), w)
        return h

    def _tensors(self, *arrays) -> tuple[list[torch.Tensor], bool]:
        """Arrays or tensors -> [N, 2] float32 tensors on the agent's device, and whether input was numpy."""
        to_numpy = not isinstance(arrays[0], torch.Tensor)
        device = self.high.device
        out = [torch.as_tensor(a, dtype=torch.float32, device=device).reshape(-1, 2) for a in arrays]
        return out, to_numpy


def shift_target(p_next: torch.Tensor, reached: torch.Tensor) -> torch.Tensor:
    """Distributional Bellman target: [E, B, bins] next-state probabilities, [B] reached -> [E, B, bins].

    One more step moves every bin one to the right; the last bin ("bins or more") keeps what overflows.
    A transition that reached the goal took exactly one step: all mass on bin 0.
    """
    zero = torch.zeros_like(p_next[..., :1])
    shifted = torch.cat([zero, p_next[..., :-2], p_next[..., -2:].sum(-1, keepdim=True)], -1)
    done = F.one_hot(torch.zeros_like(reached, dtype=torch.long), p_next.shape[-1]).to(p_next)  # [B, bins]
    return torch.where(reached[None, :, None], done, shifted)
