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

from ..common.errors import ConfigError


@dataclass
class Videos:
    """A batch of videos with the ball states that made them."""

    frames: torch.Tensor  # [N, T, S, S] in [0, 1]
    positions: torch.Tensor  # [N, T, K, 2] ball centres (row, col) in pixels; pixel (i, j) spans [i, i+1)
    velocities: torch.Tensor  # [N, T, K, 2] pixels per frame
    radius: float  # ball radius in pixels

    @property
    def size(self) -> int:
        return self.frames.shape[-1]


@dataclass
class VideoData:
    """Train and held-out videos drawn from independent seeds of one generator."""

    train: Videos
    test: Videos


def simulate(rng: np.random.Generator, n_videos: int, length: int, *, size: int, n_balls: int, radius: float,
             speed: tuple[float, float], directions: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ball positions and velocities [N, T, K, 2]: uniform starts inside the walls, speeds uniform in
    `speed` (pixels per frame), directions uniform on the circle or, if `directions` > 0, drawn from that
    many evenly spaced diagonal-first directions (4 gives the four diagonals)."""
    lo, hi = radius, size - radius  # a centre stays in [lo, hi] so the disc stays inside the frame
    pos = rng.uniform(lo, hi, size=(n_videos, n_balls, 2))
    if directions > 0:
        angle = direction_angles(directions)[rng.integers(0, directions, size=(n_videos, n_balls))]
    else:
        angle = rng.uniform(0, 2 * np.pi, size=(n_videos, n_balls))
    norm = rng.uniform(speed[0], speed[1], size=(n_videos, n_balls))
    vel = norm[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)  # [N, K, 2]
    positions, velocities = [], []
    for _ in range(length):
        positions.append(pos.copy())
        velocities.append(vel.copy())
        pos, vel = advance(pos, vel, lo, hi)
    return np.stack(positions, 1), np.stack(velocities, 1)


def advance(pos: np.ndarray, vel: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """One frame of motion: elastic walls mirror the overshoot back inside and flip that component."""
    pos = pos + vel
    below, above = pos < lo, pos > hi
    pos = np.where(below, 2 * lo - pos, np.where(above, 2 * hi - pos, pos))
    return pos, np.where(below | above, -vel, vel)


def direction_angles(k: int) -> np.ndarray:
    """k evenly spaced angles starting at 45 degrees (the diagonals for k = 4)."""
    return np.pi / 4 + 2 * np.pi * np.arange(k) / k


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
                   speed: tuple[float, float] = (0.5, 1.5), directions: int = 0,
                   seed: int | np.random.SeedSequence = 0) -> Videos:
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
    if directions < 0:
        raise ConfigError(f"directions must be >= 0 (0 = any direction), got {directions}")
    pos, vel = simulate(np.random.default_rng(seed), n_videos, length, size=size, n_balls=n_balls,
                        radius=radius, speed=speed, directions=directions)
    positions = torch.tensor(pos, dtype=torch.float32)
    return Videos(frames=render(positions, size, radius), positions=positions,
                  velocities=torch.tensor(vel, dtype=torch.float32), radius=radius)


def load_videos(*, n_train: int, n_test: int, length: int, size: int = 16, n_balls: int = 1,
                radius: float = 2.0, speed: tuple[float, float] = (0.5, 1.5), directions: int = 0,
                seed: int = 0) -> VideoData:
    """Train and held-out videos from two independent streams of `seed`: no test video is a train video."""
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    opts = dict(size=size, n_balls=n_balls, radius=radius, speed=speed, directions=directions)
    return VideoData(train=bouncing_balls(n_train, length, seed=train_seed, **opts),
                     test=bouncing_balls(n_test, length, seed=test_seed, **opts))


def examples(videos: Videos, context_frames: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (frames t-k+1 .. t -> frame t+1) example with k = `context_frames`, flattened.

    Returns context [M, k*S*S], target [M, S*S] and `where` [M, 2] = (video, t+1) for each example.
    """
    N, T, S, _ = videos.frames.shape
    k = context_frames
    flat = videos.frames.reshape(N, T, S * S)
    context = torch.cat([flat[:, i: T - k + i] for i in range(k)], dim=-1).reshape(-1, k * S * S)  # [M, kP]
    target = flat[:, k:].reshape(-1, S * S)  # [M, P]
    video = torch.arange(N).repeat_interleave(T - k)
    step = torch.arange(k, T).repeat(N)
    return context, target, torch.stack([video, step], 1)


def next_positions(videos: Videos, speed: float, directions: int) -> torch.Tensor:
    """Every position the (first) ball could take one frame after each single-frame example (`examples` with
    k = 1) when its velocity is unknown but one of `directions` at `speed`: [M, directions, 2]."""
    pos = videos.positions[:, :-1, 0].reshape(-1, 1, 2).numpy()  # [M, 1, 2]
    angle = direction_angles(directions)
    vel = speed * np.stack([np.cos(angle), np.sin(angle)], -1)[None]  # [1, directions, 2]
    pos = np.broadcast_to(pos, (len(pos), directions, 2))
    out, _ = advance(pos, np.broadcast_to(vel, pos.shape), videos.radius, videos.size - videos.radius)
    return torch.tensor(out, dtype=torch.float32)


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
