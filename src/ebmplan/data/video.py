"""Bouncing balls: a tiny, fully seeded synthetic video for next-frame prediction.

Each ball is a soft (anti-aliased) disc of radius `radius` pixels moving at constant velocity and bouncing
elastically off the four walls of a `size` x `size` frame: a wall reflects the velocity component normal to
it, so speeds never change. Balls do not collide with each other (they pass through one another), so every
ball's path is deterministic and independent; overlapping discs are drawn as their pixel-wise maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError


@dataclass
class Videos:
    """A batch of videos with the ball states that made them."""

    frames: torch.Tensor  # [N, T, S, S] in [0, 1]
    positions: torch.Tensor  # [N, T, K, 2] ball centres (row, col) in pixels; pixel (i, j) spans [i, i+1)
    velocities: torch.Tensor  # [N, T, K, 2] pixels per frame

    @property
    def size(self) -> int:
        return self.frames.shape[-1]


@dataclass
class VideoData:
    """Train and held-out videos drawn from independent seeds of one generator."""

    train: Videos
    test: Videos


def simulate(rng: np.random.Generator, n_videos: int, length: int, *, size: int, n_balls: int, radius: float,
             speed: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Ball positions and velocities [N, T, K, 2]: uniform starts inside the walls, uniform directions,
    speeds uniform in `speed` (pixels per frame)."""
    lo, hi = radius, size - radius  # a centre stays in [lo, hi] so the disc stays inside the frame
    pos = rng.uniform(lo, hi, size=(n_videos, n_balls, 2))
    angle = rng.uniform(0, 2 * np.pi, size=(n_videos, n_balls))
    norm = rng.uniform(speed[0], speed[1], size=(n_videos, n_balls))
    vel = norm[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)  # [N, K, 2]
    positions, velocities = [], []
    for _ in range(length):
        positions.append(pos.copy())
        velocities.append(vel.copy())
        pos = pos + vel
        # Elastic walls: mirror the overshoot back inside and flip that velocity component.
        below, above = pos < lo, pos > hi
        pos = np.where(below, 2 * lo - pos, np.where(above, 2 * hi - pos, pos))
        vel = np.where(below | above, -vel, vel)
    return np.stack(positions, 1), np.stack(velocities, 1)


def render(positions: torch.Tensor, size: int, radius: float) -> torch.Tensor:
    """Soft discs: each pixel centre gets clip(radius + 0.5 - distance, 0, 1); balls combine by max.

    positions [..., K, 2] -> frames [..., S, S].
    """
    centres = torch.arange(size, dtype=positions.dtype) + 0.5
    rows, cols = torch.meshgrid(centres, centres, indexing="ij")  # [S, S]
    grid = torch.stack([rows, cols], -1)  # [S, S, 2]
    dist = (grid - positions[..., None, None, :]).norm(dim=-1)  # [..., K, S, S]
    return (radius + 0.5 - dist).clamp(0, 1).amax(dim=-3)  # [..., S, S]


def bouncing_balls(n_videos: int, length: int, *, size: int = 16, n_balls: int = 1, radius: float = 2.0,
                   speed: tuple[float, float] = (0.5, 1.5), seed: int = 0) -> Videos:
    """`n_videos` videos of `length` frames; the same arguments and seed always give the same videos."""
    if size < 4 or n_balls < 1 or n_videos < 1 or length < 1:
        raise ConfigError(f"bouncing balls need size >= 4 and n_balls, n_videos, length >= 1 (got "
                          f"size={size}, n_balls={n_balls}, n_videos={n_videos}, length={length})")
    if not 0 < radius < size / 2 - 0.5:
        raise ConfigError(f"ball radius must be in (0, {size / 2 - 0.5}) for {size}-pixel frames, "
                          f"got {radius}")
    if not 0 <= speed[0] <= speed[1] or speed[1] >= size - 2 * radius:
        raise ConfigError(f"ball speeds need 0 <= min <= max < size - 2 * radius = {size - 2 * radius} "
                          f"(one bounce per frame at most), got {speed}")
    pos, vel = simulate(np.random.default_rng(seed), n_videos, length, size=size, n_balls=n_balls,
                        radius=radius, speed=speed)
    positions = torch.tensor(pos, dtype=torch.float32)
    return Videos(frames=render(positions, size, radius), positions=positions,
                  velocities=torch.tensor(vel, dtype=torch.float32))


def load_videos(*, n_train: int, n_test: int, length: int, size: int = 16, n_balls: int = 1,
                radius: float = 2.0, speed: tuple[float, float] = (0.5, 1.5), seed: int = 0) -> VideoData:
    """Train and held-out videos from two independent streams of `seed`: no test video is a train video."""
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    opts = dict(size=size, n_balls=n_balls, radius=radius, speed=speed)
    return VideoData(train=bouncing_balls(n_train, length, seed=train_seed, **opts),
                     test=bouncing_balls(n_test, length, seed=test_seed, **opts))


def triples(videos: Videos) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (frames t-1 and t -> frame t+1) example, flattened.

    Returns context [M, 2*S*S], target [M, S*S] and `where` [M, 2] = (video, t+1) for each example.
    """
    N, T, S, _ = videos.frames.shape
    flat = videos.frames.reshape(N, T, S * S)
    context = torch.cat([flat[:, :-2], flat[:, 1:-1]], dim=-1).reshape(-1, 2 * S * S)  # [N*(T-2), 2D]
    target = flat[:, 2:].reshape(-1, S * S)  # [N*(T-2), D]
    video = torch.arange(N).repeat_interleave(T - 2)
    step = torch.arange(2, T).repeat(N)
    return context, target, torch.stack([video, step], 1)


def centre_of_mass(frames: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centre (row, col) in pixels of flattened square frames [B, S*S] -> [B, 2].

    With one ball this is the ball's centre; intensities are clamped to [0, 1] first, and an empty frame
    reports the frame's centre.
    """
    S = int(round(frames.shape[-1] ** 0.5))
    w = frames.clamp(0, 1).reshape(-1, S, S)
    centres = torch.arange(S, dtype=frames.dtype, device=frames.device) + 0.5
    mass = w.sum(dim=(1, 2)).clamp_min(1e-8)
    row = (w.sum(2) * centres).sum(1) / mass
    col = (w.sum(1) * centres).sum(1) / mass
    empty = w.sum(dim=(1, 2)) < 1e-8
    out = torch.stack([row, col], 1)
    out[empty] = S / 2
    return out
