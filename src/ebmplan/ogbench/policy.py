"""The goal-reaching policy learned from the same data: a deterministic actor pi(s, g) in [-1, 1]^2 trained by
DDPG+BC on the contrastive Q critic (OGBench's CRL with `actor_loss=ddpgbc`): move towards actions the critic
scores as leading to the goal, held near the dataset's actions.

    loss = -Q(s, pi(s, g), g) / mean|Q| + alpha * |pi(s, g) - a|^2,    Q = -E (critic.py)

OGBench's BC term is a Gaussian log-likelihood; with a deterministic actor it is the squared error. Dividing Q by
its mean magnitude (not differentiated) makes `alpha` independent of the critic's scale, as in OGBench.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .critic import ContrastiveCritic, Normaliser, mlp


class Actor(nn.Module):
    """pi(s, g) = tanh(MLP([s, g])) on normalised observations, [B, 2] x [B, 2] -> [B, 2]."""

    def __init__(self, *, width: int, depth: int):
        super().__init__()
        self.net = mlp(4, width, depth, 2)

    def forward(self, s: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([s, g], -1)))


def ddpg_bc_loss(actor: Actor, critic: ContrastiveCritic, s: torch.Tensor, g: torch.Tensor, a: torch.Tensor,
                 alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, Q of the actor's actions [B]); the critic's weights get gradients the caller does not apply."""
    pi = actor(s, g)
    q = -critic.energy(s, pi, g)  # [B]
    loss = -q.mean() / q.abs().mean().detach().clamp_min(1e-6) + alpha * (pi - a).pow(2).sum(-1).mean()
    return loss, q


class GoalPolicy:
    """`policy(observation [2], goal [2]) -> action [2]` on raw observations (evaluation.py's protocol): the actor
    straight at the goal."""

    def __init__(self, actor: Actor, norm: Normaliser):
        self.actor, self.norm = actor, norm

    @torch.no_grad()
    def actions(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """[B, 2], [B, 2] -> [B, 2]."""
        s, g = (self.norm(torch.as_tensor(x, dtype=torch.float32).reshape(-1, 2)) for x in (states, goals))
        return self.actor(s, g).numpy().astype(np.float64)

    def reset(self, observation: np.ndarray, goal: np.ndarray) -> None:
        """Nothing to prepare: the plain policy keeps no state between steps."""

    def __call__(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return self.actions(observation, goal)[0]
