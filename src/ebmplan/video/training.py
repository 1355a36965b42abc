"""What `ebmplan video` trains, and how: the videos and models a config describes, and the three trainers.

- `train_energy`: the next-frame energy F(frame t+1 | frames t-1, t), contrastive against frame negatives, for a
  number of steps or of seconds (the ablation's arms);
- `train_regressor`: the MSE baseline;
- `train_latent`: the single-frame latent-variable energy, lowering its free energy min_z F(y | frame t, z).

Every step goes through `GradientStep` (the energy's through `ContrastiveStep`), so a model that diverges stops
the run with `Divergence` (exit code 1).
Each trainer seeds itself, so loading one model from a checkpoint (`trained`) changes no other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..common.monitor import ScalarLog, progress
from ..common.runs import FinishedModels
from ..energy.contrastive import ContrastiveStep
from ..energy.frame_negatives import frame_negatives, parse_frame_negatives
from ..energy.frames import FrameEnergy, FrameRegressor, LatentFrameEnergy
from ..energy.step import GradientStep
from .config import VideoConfig
from .data import VideoData, Videos, examples, load_videos

LOG_EVERY = 100  # steps between a model's rows of metrics.csv (and its last step)


def make_data(cfg: VideoConfig) -> VideoData:
    """The training and held-out videos of the main task."""
    return load_videos(n_train=cfg.n_train, n_test=cfg.n_test, length=cfg.length, size=cfg.size,
                       n_balls=cfg.n_balls, radius=cfg.radius, speed=(cfg.speed_min, cfg.speed_max),
                       seed=cfg.seed)


def frame_energy(cfg: VideoConfig, context_frames: int = 2) -> FrameEnergy:
    return FrameEnergy(cfg.size * cfg.size, frames=context_frames, width=cfg.width, depth=cfg.depth,
                       activation=cfg.activation)


def frame_regressor(cfg: VideoConfig, context_frames: int = 2) -> FrameRegressor:
    return FrameRegressor(cfg.size * cfg.size, frames=context_frames, width=cfg.width, depth=cfg.depth,
                          activation=cfg.activation)


def latent_frame_energy(cfg: VideoConfig) -> LatentFrameEnergy:
    return LatentFrameEnergy(cfg.size * cfg.size, frames=1, codes=cfg.latent_codes, width=cfg.width,
                             depth=cfg.depth, activation=cfg.activation)


def trained(finished: FinishedModels, name: str, build: Callable[[], nn.Module],
            fit: Callable[[], tuple[nn.Module, dict]], device: torch.device) -> tuple[nn.Module, dict]:
    """The model `name` and its training record: loaded into `build()` (on `device`) when the run finished it
    before, else trained by `fit()` and added to the checkpoint."""
    if name in finished:
        model = build().to(device)
        return model, finished.load(name, model)
    model, record = fit()
    finished.save(name, model, record)
    return model, record


def log_name(model: str) -> str:
    """A model's name in metrics.csv (no commas)."""
    return model.replace(",", "+")


def train_energy(cfg: VideoConfig, train: Videos, negatives: str, *, steps: int | None = None,
                 seconds: float | None = None, seed: int = 0, context_frames: int = 2,
                 device: str | torch.device = "cpu", log: ScalarLog | None = None, name: str = "energy",
                 checkpoint: Path | None = None) -> tuple[FrameEnergy, dict]:
    """Contrastive training for `steps` steps, or for `seconds` of wall-clock time when given (at least one
    step); the loss every `LOG_EVERY` steps and at the last goes to `log` as model `name`. `checkpoint`: where
    the run keeps the models it finished (named by a Divergence)."""
    torch.manual_seed(seed)
    P = cfg.size * cfg.size
    context, target, where = (t.to(device) for t in examples(train, context_frames))  # [M, kP], [M, P], [M, 2]
    energy = frame_energy(cfg, context_frames).to(device)
    update = GradientStep(energy, torch.optim.Adam(energy.parameters(), lr=cfg.lr), what=f"{name} model",
                          grad_clip=cfg.grad_clip, checkpoint=checkpoint)
    sampler = frame_negatives(train.frames.reshape(*train.frames.shape[:2], P).to(device), where,
                              parse_frame_negatives(negatives), perturb_sigma=cfg.perturb_sigma,
                              hard_pool=cfg.hard_pool)
    contrast = ContrastiveStep(energy, update, sampler, cfg.make_loss(), n_negatives=cfg.n_negatives)
    t0, step = time.perf_counter(), 0
    bar = progress(total=steps if seconds is None else None,
                   desc=f"train {name}" + ("" if seconds is None else f" ({seconds:g} s)"))
    while (step < steps) if seconds is None else (step == 0 or time.perf_counter() - t0 < seconds):
        idx = torch.randint(len(target), (cfg.batch_size,), device=device)
        loss = contrast(target[idx], step + 1, context=context[idx], index=idx).loss  # next frames [B, P]
        step += 1
        bar.update()
        if step % LOG_EVERY == 0:
            _log(log, name, step, loss, t0)
    bar.close()
    if step % LOG_EVERY:
        _log(log, name, step, loss, t0)
    return energy, {"steps": step, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def train_regressor(cfg: VideoConfig, train: Videos, *, seed: int = 0, context_frames: int = 2,
                    device: str | torch.device = "cpu", log: ScalarLog | None = None, name: str = "regressor",
                    checkpoint: Path | None = None) -> tuple[FrameRegressor, dict]:
    """The next frame from the context by mean squared error, `cfg.steps` steps."""
    torch.manual_seed(seed)
    context, target, _ = (t.to(device) for t in examples(train, context_frames))  # [M, kP], [M, P]
    model = frame_regressor(cfg, context_frames).to(device)
    update = GradientStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), what=f"{name} model",
                          grad_clip=cfg.grad_clip, checkpoint=checkpoint)
    t0 = time.perf_counter()
    for step in progress(range(1, cfg.steps + 1), desc=f"train {name}"):
        idx = torch.randint(len(target), (cfg.batch_size,), device=device)
        loss = (model(context[idx]) - target[idx]).pow(2).mean()
        update(loss, step)
        if step % LOG_EVERY == 0 or step == cfg.steps:
            _log(log, name, step, loss, t0)
    return model, {"steps": cfg.steps, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def train_latent(cfg: VideoConfig, train: Videos, *, seed: int = 0, device: str | torch.device = "cpu",
                 log: ScalarLog | None = None, name: str = "latent",
                 checkpoint: Path | None = None) -> tuple[LatentFrameEnergy, dict]:
    """Lower the free energy min_z F(y | frame t, z) of each training pair; the best code is found exactly."""
    torch.manual_seed(seed)
    P = cfg.size * cfg.size
    context, target, _ = (t.to(device) for t in examples(train, 1))  # [M, P], [M, P]
    energy = latent_frame_energy(cfg).to(device)
    update = GradientStep(energy, torch.optim.Adam(energy.parameters(), lr=cfg.lr), what=f"{name} model",
                          grad_clip=cfg.grad_clip, checkpoint=checkpoint)
    t0 = time.perf_counter()
    for step in progress(range(1, cfg.steps + 1), desc=f"train {name}"):
        idx = torch.randint(len(target), (cfg.batch_size,), device=device)
        free = energy.energy_per_code(target[idx], context[idx]).min(dim=1).values  # [B]
        loss = free.mean() / P
        update(loss, step, free)
        if step % LOG_EVERY == 0 or step == cfg.steps:
            _log(log, name, step, loss, t0)
    return energy, {"steps": cfg.steps, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def _log(log: ScalarLog | None, name: str, step: int, loss: torch.Tensor, t0: float) -> None:
    if log is not None:
        log.write(step, {"loss": loss.item(), "seconds": f"{time.perf_counter() - t0:.3f}"}, model=name)
