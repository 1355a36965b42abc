"""Negative next frames for a frame energy F(next frame | previous frames), drawn per training example.

Every kind implements `negatives.Negatives` and is registered in `FRAME_KINDS`, so a mixture is written, split
and drawn as for point negatives (`FRAME_KINDS.mixture(weights, frames, where, **options)`, a `Mixture`); the
trainer passes each row's example index, which mismatched frames and chains need. A kind name means one thing
for points and frames: `uniform` and `perturb` are the point kinds applied to frames, `mismatched` takes real
frames that do not follow the context; the two kinds that work differently here carry their own names
(`hard-mismatched`, not the point `hard`; `chains`, not the point `model`).

The data every kind is built from: `frames` [N, T, P], every training frame by video and time, and `where`
[M, 2], the (video, time of the true next frame) of each training example.
"""

from __future__ import annotations

import torch

from ..common.errors import ConfigError
from .inference import descend
from .negatives import Mixture, Negatives, Perturb, Registry, Uniform

RENAMED = {"hard": "hard-mismatched", "model": "chains"}  # their names when they shared the point kinds' names


def pixel_box(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel range [0, 1] of every pixel of `frames` [N, T, P]: ([P], [P])."""
    P, device = frames.shape[-1], frames.device
    return torch.zeros(P, device=device), torch.ones(P, device=device)


class MismatchedFrames(Negatives):
    """Real frames that do not follow the context: half from the same video at another time, half from any
    training video; never the example's true next frame."""

    def __init__(self, frames: torch.Tensor, where: torch.Tensor):
        self.frames, self.where = frames, where  # [N, T, P], [M, 2]

    def sample(self, pos, n, energy, context=None, index=None):
        (N, T, _), device = self.frames.shape, self.frames.device
        video, time = self.where[index, 0][:, None], self.where[index, 1][:, None]  # [B, 1]
        v = video.expand(-1, n).clone()  # [B, n]
        other = torch.rand(v.shape, device=device) < 0.5
        v[other] = torch.randint(N, (int(other.sum()),), device=device)
        same = v == video
        t = torch.where(same, torch.randint(T - 1, v.shape, device=device), torch.randint(T, v.shape, device=device))
        t = t + (same & (t >= time)).long()  # within its own video, skip the true next frame
        return self.frames[v, t]  # [B, n, P]


class HardMismatched(Negatives):
    """The hardest mismatched frames: `pool` times as many are scored under each row's own context and the
    lowest-energy ones (those the model wrongly finds most plausible) are kept. Unlike the point `hard` kind (a
    prioritized buffer of past negatives), nothing is remembered between steps."""

    def __init__(self, frames: torch.Tensor, where: torch.Tensor, *, pool: int = 4):
        if pool < 1:
            raise ConfigError(f"hard-mismatched frame negatives need hard_pool >= 1, got {pool}")
        self.mismatched, self.pool = MismatchedFrames(frames, where), pool

    @torch.no_grad()
    def sample(self, pos, n, energy, context=None, index=None):
        pool = self.mismatched.sample(pos, n * self.pool, energy, context, index)  # [B, n * pool, P]
        hardest = energy.energies(pool, context).topk(n, dim=1, largest=False).indices  # [B, n]
        return pool.gather(1, hardest[..., None].expand(-1, -1, pool.shape[-1]))


class Chains(Negatives):
    """The model's own predictions from persistent gradient-descent chains, one set per training example,
    started from uniform noise and moved `steps` further each time the example is drawn (a `reinit` share
    restart from noise), so they track what inference would predict for that context. Unlike the point
    `model` kind (short runs from a buffer shared by every example), each chain belongs to one example."""

    def __init__(self, frames: torch.Tensor, where: torch.Tensor, *, steps: int = 5, step_size: float = 0.1,
                 max_move: float = 1.0, reinit: float = 0.05):
        self.box, self.examples = pixel_box(frames), len(where)
        self.steps, self.step_size, self.max_move, self.reinit = steps, step_size, max_move, reinit
        self.chains: torch.Tensor | None = None  # [M, n, P], made on first use

    @torch.no_grad()
    def sample(self, pos, n, energy, context=None, index=None):
        P, device = pos.shape[-1], pos.device
        if self.chains is None:
            self.chains = torch.rand(self.examples, n, P, device=device)
        start = self.chains[index]  # [B, n, P]
        fresh = torch.rand(start.shape[:2], device=device) < self.reinit
        start[fresh] = torch.rand(int(fresh.sum()), P, device=device)
        moved = descend(energy, start.reshape(-1, P), context=context.repeat_interleave(n, 0), steps=self.steps,
                        step_size=self.step_size, max_move=self.max_move, tol=0.0, box=self.box)
        moved = moved.samples.reshape(start.shape)
        self.chains[index] = moved
        return moved


# Options: perturb_sigma (the largest std of `perturb`, whose std is drawn per negative in [0, perturb_sigma]
# and which is clipped to the pixel range), hard_pool, chain_steps, chain_step_size, chain_max_move, chain_reinit.
FRAME_KINDS = Registry("frame negative kind")
FRAME_KINDS.register("uniform")(lambda frames, where, **o: Uniform(pixel_box(frames)))
FRAME_KINDS.register("perturb")(lambda frames, where, **o: Perturb(
    o.get("perturb_sigma", 0.5), spread=True, clamp=pixel_box(frames)))
FRAME_KINDS.register("mismatched")(lambda frames, where, **o: MismatchedFrames(frames, where))
FRAME_KINDS.register("hard-mismatched")(lambda frames, where, **o: HardMismatched(
    frames, where, pool=o.get("hard_pool", 4)))
FRAME_KINDS.register("chains")(lambda frames, where, **o: Chains(
    frames, where, steps=o.get("chain_steps", 5), step_size=o.get("chain_step_size", 0.1),
    max_move=o.get("chain_max_move", 1.0), reinit=o.get("chain_reinit", 0.05)))
FRAME_NEGATIVES = FRAME_KINDS.names


def frame_negatives(frames: torch.Tensor, where: torch.Tensor, weights: dict[str, float], *,
                    perturb_sigma: float = 0.5, **options) -> Mixture:
    """The mixture `weights` ({kind: weight}, from `parse_frame_negatives`) of frame kinds over `frames` [N, T, P]
    and the examples at `where` [M, 2]; `options` as for `FRAME_KINDS`."""
    if perturb_sigma <= 0:
        raise ConfigError(f"frame negatives need perturb_sigma > 0, got {perturb_sigma}")
    return FRAME_KINDS.mixture(weights, frames, where, perturb_sigma=perturb_sigma, **options)


def parse_frame_negatives(spec: str) -> dict[str, float]:
    """"uniform:1,perturb:1,mismatched:1,hard-mismatched:1" -> {kind: weight}; a bare name has weight 1. An old
    kind name is one ConfigError naming its new one (a saved config.json is mapped by `renamed`)."""
    for item in spec.split(","):
        old = item.strip().partition(":")[0]
        if old in RENAMED:
            raise ConfigError(f"frame negative kind {old!r} is now called {RENAMED[old]!r}; choose from "
                              f"{', '.join(FRAME_NEGATIVES)}")
    return FRAME_KINDS.weights(spec)


def renamed(spec: str) -> str:
    """A frame negatives spec with the old kind names (`RENAMED`) replaced by today's; others unchanged."""
    items = [item.strip().partition(":") for item in spec.split(",")]
    if not any(name in RENAMED for name, _, _ in items):
        return spec
    return ",".join(RENAMED.get(name, name) + colon + weight for name, colon, weight in items)
