"""Negative next frames for a frame energy F(next frame | previous frames), drawn per training example.

The mixture is written and split as for point negatives (`negatives.parse_weights`, `split_by_weight`), and a
kind name means one thing in both: `uniform`, `perturb` and `mismatched` are the point kinds applied to frames;
the two kinds that work differently here carry their own names (`hard-mismatched`, not the point `hard`;
`chains`, not the point `model`). Per example, because hard mining and the chains depend on each example's own
context and mismatched frames on where the example sits in its video.
"""

from __future__ import annotations

import torch

from ..common.errors import ConfigError, choose
from .inference import descend
from .models import EnergyModel
from .negatives import parse_weights, split_by_weight

FRAME_NEGATIVES = ("uniform", "perturb", "mismatched", "hard-mismatched", "chains")
RENAMED = {"hard": "hard-mismatched", "model": "chains"}  # their names when they shared the point kinds' names


class FrameNegatives:
    """Negative next frames for each (context, true next frame) training example.

    - `uniform`: frames of uniform noise over the pixel range [0, 1];
    - `perturb`: the true next frame plus Gaussian noise, here of a std drawn per negative uniformly in
      [0, perturb_sigma] and clamped to [0, 1] (negatives along the path gradient descent takes from noise to
      the answer);
    - `mismatched`: real frames that do not follow the context: half from the same video at another time,
      half from any training video;
    - `hard-mismatched`: the hardest mismatched frames: `hard_pool` times as many are scored under each row's
      own context and the lowest-energy ones (those the model wrongly finds most plausible) are kept. Unlike
      the point `hard` kind (a prioritized buffer of past negatives), nothing is remembered between steps;
    - `chains`: the model's own predictions from persistent gradient-descent chains, one set per training
      example, started from uniform noise and moved `chain_steps` further each time the example is drawn (a
      `chain_reinit` share restart from noise), so they track what inference would predict for that context.
      Unlike the point `model` kind (short runs from a buffer shared by every example), each chain belongs to
      one example.

    `weights` maps these kinds to their share of the n negatives per example.
    """

    def __init__(self, frames: torch.Tensor, where: torch.Tensor, weights: dict[str, float], *,
                 perturb_sigma: float = 0.5, hard_pool: int = 4, chain_steps: int = 5,
                 chain_step_size: float = 0.1, chain_max_move: float = 1.0, chain_reinit: float = 0.05):
        for kind in weights:
            choose("frame negative kind", kind, FRAME_NEGATIVES)
        if not weights or min(weights.values()) <= 0:
            raise ConfigError(f"frame negatives need at least one kind with a weight > 0, got {weights}")
        if perturb_sigma <= 0 or hard_pool < 1:
            raise ConfigError(f"frame negatives need perturb_sigma > 0 and hard_pool >= 1 (got "
                              f"{perturb_sigma}, {hard_pool})")
        self.frames = frames  # [N, T, P]: every training frame, by video and time
        self.where = where  # [M, 2]: (video, time of the true next frame) of each training example
        self.weights, self.perturb_sigma, self.hard_pool = weights, perturb_sigma, hard_pool
        self.chain_steps, self.chain_step_size = chain_steps, chain_step_size
        self.chain_max_move, self.chain_reinit = chain_max_move, chain_reinit
        self.chains: torch.Tensor | None = None  # [M, k, P], made on first use

    def advance_chains(self, idx: torch.Tensor, context: torch.Tensor, k: int,
                       energy: EnergyModel) -> torch.Tensor:
        """Move the k chains of each example `idx` [B] a few descent steps under its context: [B, k, P]."""
        P, device = self.frames.shape[-1], self.frames.device
        if self.chains is None:
            self.chains = torch.rand(len(self.where), k, P, device=device)
        start = self.chains[idx]  # [B, k, P]
        fresh = torch.rand(start.shape[:2], device=device) < self.chain_reinit
        start[fresh] = torch.rand(int(fresh.sum()), P, device=device)
        moved = descend(energy, start.reshape(-1, P), context=context.repeat_interleave(k, 0),
                        steps=self.chain_steps, step_size=self.chain_step_size, max_move=self.chain_max_move,
                        tol=0.0, box=(torch.zeros(P, device=device), torch.ones(P, device=device)))
        moved = moved.samples.reshape(start.shape)
        self.chains[idx] = moved
        return moved

    def mismatched(self, idx: torch.Tensor, m: int) -> torch.Tensor:
        """m real frames per example [B, m, P], none of them the example's true next frame."""
        (N, T, _), device = self.frames.shape, self.frames.device
        video, time = self.where[idx, 0][:, None], self.where[idx, 1][:, None]  # [B, 1]
        v = video.expand(-1, m).clone()  # [B, m]
        other = torch.rand(v.shape, device=device) < 0.5
        v[other] = torch.randint(N, (int(other.sum()),), device=device)
        same = v == video
        t = torch.where(same, torch.randint(T - 1, v.shape, device=device), torch.randint(T, v.shape, device=device))
        t = t + (same & (t >= time)).long()  # within its own video, skip the true next frame
        return self.frames[v, t]

    def hardest_mismatched(self, idx: torch.Tensor, context: torch.Tensor, k: int,
                           energy: EnergyModel) -> torch.Tensor:
        """The k lowest-energy of `hard_pool * k` mismatched frames per example, under its context: [B, k, P]."""
        pool = self.mismatched(idx, k * self.hard_pool)  # [B, k * pool, P]
        hardest = energy.energies(pool, context).topk(k, dim=1, largest=False).indices  # [B, k]
        return pool.gather(1, hardest[..., None].expand(-1, -1, pool.shape[-1]))

    @torch.no_grad()
    def sample(self, idx: torch.Tensor, target: torch.Tensor, context: torch.Tensor, n: int,
               energy: EnergyModel) -> torch.Tensor:
        """n negatives [B, n, P] for examples `idx` [B] with true next frames `target` [B, P]."""
        (B, P), device = target.shape, target.device
        blocks = []
        for kind, k in split_by_weight(self.weights, n).items():
            if k == 0:
                continue
            if kind == "uniform":
                blocks.append(torch.rand(B, k, P, device=device))
            elif kind == "perturb":
                sigma = self.perturb_sigma * torch.rand(B, k, 1, device=device)
                blocks.append((target[:, None] + sigma * torch.randn(B, k, P, device=device)).clamp(0, 1))
            elif kind == "mismatched":
                blocks.append(self.mismatched(idx, k))
            elif kind == "chains":
                blocks.append(self.advance_chains(idx, context, k, energy))
            else:
                blocks.append(self.hardest_mismatched(idx, context, k, energy))
        return torch.cat(blocks, dim=1)  # [B, n, P]


def parse_frame_negatives(spec: str) -> dict[str, float]:
    """"uniform:1,perturb:1,mismatched:1,hard-mismatched:1" -> {kind: weight}; a bare name has weight 1. An old
    kind name is one ConfigError naming its new one (a saved config.json is mapped by `renamed`)."""
    for item in spec.split(","):
        old = item.strip().partition(":")[0]
        if old in RENAMED:
            raise ConfigError(f"frame negative kind {old!r} is now called {RENAMED[old]!r}; choose from "
                              f"{', '.join(FRAME_NEGATIVES)}")
    return parse_weights(spec, FRAME_NEGATIVES, "frame negative kind")


def renamed(spec: str) -> str:
    """A frame negatives spec with the old kind names (`RENAMED`) replaced by today's; others unchanged."""
    items = [item.strip().partition(":") for item in spec.split(",")]
    if not any(name in RENAMED for name, _, _ in items):
        return spec
    return ",".join(RENAMED.get(name, name) + colon + weight for name, colon, weight in items)
