"""Next-frame prediction on bouncing balls: a conditional energy against an MSE regressor of the same size.

The energy F(next frame | frames t-1 and t) is trained contrastively; it predicts by gradient descent on the
next frame from uniform noise, and rolls out by feeding its predictions back as context. Everything is
measured on held-out videos: pixel MSE and ball-position error (distance between the intensity centres of
mass of the predicted and true frames, in pixels) one step ahead and over a rollout. A negatives ablation
trains the energy with several negative mixtures for the same wall-clock time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import files, monitor, runs
from .data.video import (
    VideoData,
    Videos,
    bouncing_balls,
    centre_of_mass,
    examples,
    load_videos,
    next_positions,
    render,
)
from .energy.frames import (
    FrameEnergy,
    FrameNegatives,
    FrameRegressor,
    LatentFrameEnergy,
    parse_frame_negatives,
)
from .energy.inference import descend
from .energy.losses import loss_options, make_loss
from .energy.step import GradientStep
from .errors import ConfigError, choose
from .resources import FLOAT, RUNTIME, check_memory, mlp_params, network_bytes
from .runs import loader


@dataclass
class VideoConfig:
    """Train a next-frame energy and an MSE regressor on bouncing balls; compare them on held-out videos."""

    out: str | None = None
    """run folder (default: runs/video-<time>)"""
    seed: int = 0
    """seed for the videos, initialisation, negatives and inference"""
    size: int = 16
    """frame height and width in pixels"""
    n_balls: int = 1
    """balls per video (with several, position error compares the centre of mass of all balls)"""
    radius: float = 2.0
    """ball radius in pixels"""
    speed_min: float = 0.5
    """slowest ball speed, pixels per frame"""
    speed_max: float = 1.5
    """fastest ball speed, pixels per frame"""
    n_train: int = 300
    """training videos"""
    n_test: int = 50
    """held-out videos (a separate seed stream)"""
    length: int = 20
    """frames per video"""
    width: int = 256
    """hidden units per layer (both models)"""
    depth: int = 2
    """hidden layers (both models)"""
    activation: str = "silu"
    """silu, relu, tanh, elu, gelu, softplus or leaky_relu"""
    loss: str = "infonce"
    """contrastive loss: margin, hinge, log, square-square, square-exp, infonce or cd"""
    margin: float = 1.0
    """margin of the margin, hinge and square-square losses"""
    temperature: float = 1.0
    """temperature of the infonce loss"""
    negatives: str = "uniform,perturb,mismatched,hard"
    """mixture of negative kinds: uniform, perturb, mismatched, hard, model (e.g. 'uniform:2,hard:1')"""
    n_negatives: int = 16
    """negatives per positive"""
    perturb_sigma: float = 0.5
    """largest noise std of perturb negatives"""
    hard_pool: int = 4
    """hard mining scores this many times more mismatched frames than it keeps"""
    steps: int = 1000
    """training steps (each model)"""
    batch_size: int = 64
    """examples per step"""
    lr: float = 1e-3
    """Adam learning rate (both models)"""
    infer_steps: int = 100
    """prediction: gradient-descent step cap on the next frame"""
    infer_step_size: float = 0.1
    """prediction: step size"""
    infer_max_move: float = 1.0
    """prediction: longest move per step (Euclidean, over the whole frame)"""
    n_eval: int = 128
    """held-out examples for the one-step figures"""
    rollout: int = 10
    """rollout length in frames (fed back predictions), from the first two frames of each held-out video"""
    ablation: str = "uniform;uniform,mismatched;uniform,mismatched,hard;uniform,perturb,mismatched,hard"
    """negative mixtures compared in the ablation, separated by ';' (empty: no ablation)"""
    ablation_seconds: float = 25.0
    """wall-clock training time given to each ablation arm"""
    single_frame: bool = True
    """also run the single-frame task (velocity unknown): latent energy against the deterministic models"""
    single_speed: float = 2.0
    """single-frame task: every ball's speed, pixels per frame"""
    single_directions: int = 4
    """single-frame task: the directions a ball may move in (evenly spaced, diagonals first)"""
    latent_codes: int = 8
    """single-frame task: discrete latent codes of the latent-variable energy"""
    n_samples: int = 16
    """single-frame task: predictions per example (latent samples; noise starts for the energy)"""
    device: str = "cpu"
    """auto, cpu or cuda: where the models train and predict (the videos are made on the CPU)"""
    overwrite: bool = False
    """replace an existing run folder"""
    resume: str | None = None
    """continue the run in this folder: models it finished are loaded, the rest trained (its saved config is
    used)"""
    tensorboard: bool = False
    """also write the scalars of metrics.csv to RUN/tensorboard/ for TensorBoard (needs the tensorboard extra)"""

    def validate(self) -> None:
        """Check every value before any work starts; raise one ConfigError naming the first bad one."""
        for name in ("size", "n_balls", "n_train", "n_test", "width", "depth", "n_negatives", "hard_pool",
                     "steps", "batch_size", "infer_steps", "n_eval", "rollout", "single_directions",
                     "latent_codes", "n_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.length < self.rollout + 2:
            raise ConfigError(f"--length must be at least --rollout + 2 = {self.rollout + 2}, "
                              f"got {self.length}")
        for name in ("lr", "temperature", "perturb_sigma", "infer_step_size", "infer_max_move", "radius",
                     "single_speed"):
            value = getattr(self, name)
            if not value > 0 or not math.isfinite(value):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
        if self.margin < 0 or self.ablation_seconds < 0:
            raise ConfigError("--margin and --ablation-seconds must be >= 0")
        check_memory(self.memory_needed(), f"training width-{self.width} networks on {self.size}x{self.size} "
                     f"frames", "use a smaller --width or --size (or --batch-size, --n-negatives, --n-train)",
                     device=runs.resolve_device(self.device))  # before the test videos below are drawn
        monitor.require_tensorboard(self.tensorboard)
        loss_options(self.loss)
        parse_frame_negatives(self.negatives)
        for spec in self.arms():
            parse_frame_negatives(spec)
        FrameEnergy(1, width=1, depth=1, activation=self.activation)  # checks the activation name
        # One tiny video of each task checks the size, radius, speeds and directions.
        bouncing_balls(1, 1, size=self.size, n_balls=self.n_balls, radius=self.radius,
                       speed=(self.speed_min, self.speed_max))
        if self.single_frame:
            bouncing_balls(1, 1, size=self.size, radius=self.radius, directions=self.single_directions,
                           speed=(self.single_speed, self.single_speed))

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the six networks alive by the end (energy,
        regressor, an ablation arm, the three single-frame models), each counted as the largest of them, an MLP
        from three frames to one, with gradients and Adam's moments of the one in training; the videos of both
        tasks (frames, the examples cut from them, and render's per-ball distances while they are drawn); and
        the largest of the passing peaks: a training step (each candidate frame's activations and pixels, and
        the hard-mining pool), the single-frame predictions (descended by autograd all at once) and their
        comparison with every possible next frame.
        """
        P, W, L, B, n = self.size**2, self.width, self.depth, self.batch_size, self.n_negatives
        frames = (self.n_train + self.n_test) * self.length * P * (2 if self.single_frame else 1)
        chains = max(self.n_test, min(self.n_eval, self.n_test * (self.length - 1)) * self.n_samples)
        pool = B * n * self.hard_pool
        passing = FLOAT * P * max(B * (1 + n) + pool,  # candidate frames of a step and the hard-mining pool
                                  6 * chains,  # each chain's frame, context (2), gradient, move and step
                                  2 * chains * self.single_directions)  # predictions minus possible frames
        return RUNTIME + FLOAT * frames * (5 + self.n_balls) + network_bytes(
            mlp_params(3 * P, W, L, outputs=P), W, L, train_rows=max(B * (1 + n), chains), forward_rows=pool,
            copies=9, other_peak=passing)

    def arms(self) -> list[str]:
        return [s.strip() for s in self.ablation.split(";") if s.strip()]


def make_data(cfg: VideoConfig) -> VideoData:
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


LOG_EVERY = 100  # steps between a model's rows of metrics.csv (and its last step)


def train_energy(cfg: VideoConfig, train: Videos, negatives: str, *, steps: int | None = None,
                 seconds: float | None = None, seed: int = 0, context_frames: int = 2,
                 device: str | torch.device = "cpu", log: monitor.ScalarLog | None = None,
                 name: str = "energy") -> tuple[FrameEnergy, dict]:
    """Contrastive training for `steps` steps, or for `seconds` of wall-clock time when given; the loss every
    `LOG_EVERY` steps and at the last goes to `log` as model `name`."""
    torch.manual_seed(seed)
    P = cfg.size * cfg.size
    context, target, where = (t.to(device) for t in examples(train, context_frames))  # [M, kP], [M, P], [M, 2]
    energy = frame_energy(cfg, context_frames).to(device)
    update = GradientStep(energy, torch.optim.Adam(energy.parameters(), lr=cfg.lr), what=f"{name} model")
    sampler = FrameNegatives(train.frames.reshape(*train.frames.shape[:2], P).to(device), where,
                             parse_frame_negatives(negatives), perturb_sigma=cfg.perturb_sigma,
                             hard_pool=cfg.hard_pool)
    loss_fn = make_loss(cfg.loss, **{k: getattr(cfg, k) for k in loss_options(cfg.loss) if hasattr(cfg, k)})
    t0, step, loss = time.perf_counter(), 0, torch.tensor(float("nan"))
    bar = monitor.progress(total=steps if seconds is None else None,
                        desc=f"train {name}" + ("" if seconds is None else f" ({seconds:g} s)"))
    while (step < steps) if seconds is None else (time.perf_counter() - t0 < seconds):
        idx = torch.randint(len(target), (cfg.batch_size,), device=device)
        c, y = context[idx], target[idx]
        neg = sampler.sample(idx, y, c, cfg.n_negatives, energy)  # [B, n, P]
        e_pos, e_neg = energy(y, c), energy.energies(neg, c)  # [B], [B, n]
        loss = loss_fn(e_pos, e_neg)
        update(loss, step + 1)
        step += 1
        bar.update()
        if step % LOG_EVERY == 0:
            _log(log, name, step, loss, t0)
    bar.close()
    if step % LOG_EVERY:
        _log(log, name, step, loss, t0)
    return energy, {"steps": step, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def _log(log: monitor.ScalarLog | None, name: str, step: int, loss: torch.Tensor, t0: float) -> None:
    if log is not None and step > 0:
        log.write(step, {"loss": loss.item(), "seconds": f"{time.perf_counter() - t0:.3f}"}, model=name)


def train_regressor(cfg: VideoConfig, train: Videos, *, seed: int = 0, context_frames: int = 2,
                    device: str | torch.device = "cpu", log: monitor.ScalarLog | None = None,
                    name: str = "regressor") -> tuple[FrameRegressor, dict]:
    torch.manual_seed(seed)
    context, target, _ = (t.to(device) for t in examples(train, context_frames))
    model = frame_regressor(cfg, context_frames).to(device)
    update = GradientStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), what=f"{name} model")
    t0 = time.perf_counter()
    for step in monitor.progress(range(cfg.steps), desc=f"train {name}"):
        idx = torch.randint(len(target), (cfg.batch_size,), device=device)
        loss = (model(context[idx]) - target[idx]).pow(2).mean()
        update(loss, step + 1)
        if (step + 1) % LOG_EVERY == 0 or step + 1 == cfg.steps:
            _log(log, name, step + 1, loss, t0)
    return model, {"steps": cfg.steps, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def energy_predictor(energy: FrameEnergy, cfg: VideoConfig):
    """Next frame by gradient descent from uniform noise, clamped to the pixel range [0, 1]; computed where
    the energy is, returned where the context is."""
    device = next(energy.parameters()).device
    box = (torch.zeros(energy.dim, device=device), torch.ones(energy.dim, device=device))

    def predict(context: torch.Tensor) -> torch.Tensor:
        x0 = torch.rand(len(context), energy.dim, device=device)
        return descend(energy, x0, context=context.to(device), steps=cfg.infer_steps,
                       step_size=cfg.infer_step_size, max_move=cfg.infer_max_move, tol=1e-4,
                       box=box).samples.to(context.device)

    return predict


def regressor_predictor(model: FrameRegressor):
    device = next(model.parameters()).device

    @torch.no_grad()
    def predict(context: torch.Tensor) -> torch.Tensor:
        return model(context.to(device)).clamp(0, 1).to(context.device)

    return predict


def errors(pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame pixel MSE [B] and ball-position error in pixels [B] (centres of mass)."""
    return (pred - true).pow(2).mean(1), (centre_of_mass(pred) - centre_of_mass(true)).norm(dim=1)


def one_step(predict, test: Videos, n: int) -> dict:
    """Held-out one-step errors on `n` examples spread evenly over the test examples."""
    context, target, _ = examples(test)
    pick = torch.linspace(0, len(target) - 1, min(n, len(target))).round().long()
    mse, pos = errors(predict(context[pick]), target[pick])
    return {"mse": mse.mean().item(), "position_error": pos.mean().item(),
            "position_error_median": pos.median().item()}


def rollout(predict, test: Videos, horizon: int) -> tuple[torch.Tensor, dict]:
    """From frames 0 and 1 of every held-out video, predict `horizon` frames, feeding predictions back.

    Returns the predicted frames [N, horizon, P] and mean errors per rollout step and overall.
    """
    N, _, S, _ = test.frames.shape
    frames = test.frames.reshape(N, -1, S * S)
    prev, cur, preds = frames[:, 0], frames[:, 1], []
    for _ in range(horizon):
        nxt = predict(torch.cat([prev, cur], dim=1))  # [N, P]
        preds.append(nxt)
        prev, cur = cur, nxt
    pred = torch.stack(preds, 1)  # [N, horizon, P]
    true = frames[:, 2: 2 + horizon]
    mse, pos = errors(pred.reshape(-1, S * S), true.reshape(-1, S * S))
    mse, pos = mse.reshape(N, horizon).mean(0), pos.reshape(N, horizon).mean(0)
    return pred, {"mse": mse.mean().item(), "position_error": pos.mean().item(),
                  "position_error_last": pos[-1].item(), "position_error_by_step": pos.tolist()}


def save_strip(path: Path, test: Videos, preds: dict[str, torch.Tensor], video: int = 0) -> None:
    """One held-out video: the true frames over each model's rolled-out frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S = test.size
    horizon = next(iter(preds.values())).shape[1]
    rows = {"true": test.frames[video, 2: 2 + horizon].reshape(horizon, S, S)}
    rows.update({name: p[video].reshape(horizon, S, S) for name, p in preds.items()})
    fig, axes = plt.subplots(len(rows), horizon, figsize=(1.1 * horizon, 1.2 * len(rows)), squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for t in range(horizon):
            ax = axes[r, t]
            ax.imshow(frames[t].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 0:
                ax.set_title(f"t+{t + 1}", fontsize=8)
    fig.suptitle(f"held-out video {video}: rollout from two true frames", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def trained(finished: runs.FinishedModels, name: str, build: Callable[[], nn.Module],
            fit: Callable[[], tuple[nn.Module, dict]], device: torch.device) -> tuple[nn.Module, dict]:
    """The model `name` and its training record: loaded into `build()` (on `device`) when the run finished it
    before, else trained by `fit()` and added to the checkpoint. Every `fit` seeds itself, so skipping one
    changes no other."""
    if name in finished:
        model = build().to(device)
        return model, finished.load(name, model)
    model, record = fit()
    finished.save(name, model, record)
    return model, record


def run_video(cfg: VideoConfig, *, command: str = "video") -> Path:
    """Train both models (or, with `cfg.resume`, those the run had not finished), measure them on held-out
    videos, run the ablation, and write the run folder."""
    started = runs.Run.start(cfg, "video", command)
    cfg, device, run = started.config, started.device, started.path
    finished = runs.FinishedModels(run, resume=bool(cfg.resume))
    # metrics.csv: `model,step,loss,seconds` rows of every model trained (an ablation arm's model is named
    # `ablation <its negatives>`, with '+' for ',')
    log = monitor.ScalarLog(run, ["loss", "seconds"], tensorboard=cfg.tensorboard, models=True,
                         keep_models={_log_name(n) for n in finished.models} if cfg.resume else None)
    runs.seed_everything(cfg.seed)
    data = make_data(cfg)

    energy, e_train = trained(finished, "energy", lambda: frame_energy(cfg),
                              lambda: train_energy(cfg, data.train, cfg.negatives, steps=cfg.steps, seed=cfg.seed,
                                                   device=device, log=log), device)
    regressor, r_train = trained(finished, "regressor", lambda: frame_regressor(cfg),
                                 lambda: train_regressor(cfg, data.train, seed=cfg.seed, device=device, log=log),
                                 device)
    files.save_weights(run / "energy.safetensors", energy)
    files.save_weights(run / "regressor.safetensors", regressor)

    out: dict = {}
    preds = {}
    models = (("ebm", energy, energy_predictor(energy, cfg), e_train),
              ("regressor", regressor, regressor_predictor(regressor), r_train))
    for name, model, predict, train_info in models:
        torch.manual_seed(cfg.seed + 1)  # inference noise independent of training
        t0 = time.perf_counter()
        one = one_step(predict, data.test, cfg.n_eval)
        pred, roll = rollout(predict, data.test, cfg.rollout)
        preds[name] = pred
        out[name] = {"one_step": one, "rollout": roll, "train": train_info,
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "eval_seconds": time.perf_counter() - t0}
    save_strip(run / "rollout.png", data.test, preds)

    out["ablation"] = {}
    for spec in cfg.arms():
        arm, info = trained(finished, f"ablation {spec}", lambda: frame_energy(cfg),
                            lambda spec=spec: train_energy(cfg, data.train, spec, seconds=cfg.ablation_seconds,
                                                           seed=cfg.seed, device=device, log=log,
                                                           name=_log_name(f"ablation {spec}")), device)
        torch.manual_seed(cfg.seed + 1)
        out["ablation"][spec] = {"one_step": one_step(energy_predictor(arm, cfg), data.test, cfg.n_eval),
                                 "train": info}
    if cfg.single_frame:
        out["single_frame"] = single_frame(cfg, run, finished, device, log)
    log.close()
    out["held_out"] = {"videos": cfg.n_test, "rollout_videos": cfg.n_test,
                       "one_step_examples": min(cfg.n_eval, cfg.n_test * (cfg.length - 2))}
    files.write_json(run / "metrics.json", out)
    return run


def _log_name(model: str) -> str:
    """A model's name in metrics.csv (no commas)."""
    return model.replace(",", "+")


def train_latent(cfg: VideoConfig, train: Videos, *, seed: int = 0, device: str | torch.device = "cpu",
                 log: monitor.ScalarLog | None = None, name: str = "latent") -> tuple[LatentFrameEnergy, dict]:
    """Lower the free energy min_z F(y | frame t, z) of each training pair; the best code is found exactly."""
    torch.manual_seed(seed)
    P = cfg.size * cfg.size
    context, target, _ = (t.to(device) for t in examples(train, 1))
    energy = latent_frame_energy(cfg).to(device)
    update = GradientStep(energy, torch.optim.Adam(energy.parameters(), lr=cfg.lr), what=f"{name} model")
    t0 = time.perf_counter()
    for step in monitor.progress(range(cfg.steps), desc=f"train {name}"):
        idx = torch.randint(len(target), (cfg.batch_size,), device=device)
        free = energy.energy_per_code(target[idx], context[idx]).min(dim=1).values  # [B]
        loss = free.mean() / P
        update(loss, step + 1)
        if (step + 1) % LOG_EVERY == 0 or step + 1 == cfg.steps:
            _log(log, name, step + 1, loss, t0)
    return energy, {"steps": cfg.steps, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def modes(pred: torch.Tensor, candidates: torch.Tensor, true: torch.Tensor) -> dict:
    """Score several predictions per example against every possible next frame.

    pred [M, n, P], candidates [M, k, P] (the k possible next frames), true [M, P]. A possible frame is
    reached when some prediction's centre of mass lies within 1 pixel of its own.
    """
    M, n, P = pred.shape
    k = candidates.shape[1]
    com_p = centre_of_mass(pred.reshape(-1, P)).reshape(M, n, 1, 2)
    com_c = centre_of_mass(candidates.reshape(-1, P)).reshape(M, 1, k, 2)
    dist = (com_p - com_c).norm(dim=-1)  # [M, n, k]
    mse = (pred[:, :, None] - candidates[:, None]).pow(2).mean(-1)  # [M, n, k]
    true_dist = (com_p[:, :, 0] - centre_of_mass(true)[:, None]).norm(dim=-1)  # [M, n]
    # Near a wall two directions can lead to (almost) the same frame: count those once.
    apart = (com_c - com_c.transpose(1, 2)).norm(dim=-1) >= 1  # [M, k, k]
    distinct = torch.stack([apart[:, j, :j].all(1) for j in range(k)], 1)  # [M, k]: unlike every earlier one
    return {"modes_reached": (dist < 1).any(1).float().sum(1).mean().item(), "modes_possible": k,
            "modes_distinct": distinct.float().sum(1).mean().item(),
            "predictions_on_a_mode": (dist.min(2).values < 1).float().mean().item(),
            "mse_to_nearest_mode": mse.min(2).values.mean().item(),
            "true_next_reached": (true_dist.min(1).values < 1).float().mean().item()}


def single_frame(cfg: VideoConfig, run: Path, finished: runs.FinishedModels, device: torch.device,
                 log: monitor.ScalarLog | None = None) -> dict:
    """Next frame from ONE frame: the velocity is one of a few directions and cannot be seen, so several
    next frames are correct. Compares the MSE regressor (one answer), the contrastive energy (one answer per
    noise start) and the latent-variable energy (one answer per sampled code) on held-out videos."""
    data = load_videos(n_train=cfg.n_train, n_test=cfg.n_test, length=cfg.length, size=cfg.size, n_balls=1,
                       radius=cfg.radius, speed=(cfg.single_speed, cfg.single_speed),
                       directions=cfg.single_directions, seed=cfg.seed)
    regressor, r_info = trained(finished, "single_frame_regressor", lambda: frame_regressor(cfg, 1),
                                lambda: train_regressor(cfg, data.train, seed=cfg.seed, context_frames=1,
                                                        device=device, log=log, name="single_frame_regressor"),
                                device)
    energy, e_info = trained(finished, "single_frame_energy", lambda: frame_energy(cfg, 1),
                             lambda: train_energy(cfg, data.train, cfg.negatives, steps=cfg.steps, seed=cfg.seed,
                                                  context_frames=1, device=device, log=log,
                                                  name="single_frame_energy"), device)
    latent, l_info = trained(finished, "single_frame_latent", lambda: latent_frame_energy(cfg),
                             lambda: train_latent(cfg, data.train, seed=cfg.seed, device=device, log=log,
                                                  name="single_frame_latent"), device)
    files.save_weights(run / "single_frame_energy.safetensors", energy)
    files.save_weights(run / "single_frame_latent.safetensors", latent)
    files.save_weights(run / "single_frame_regressor.safetensors", regressor)

    context, target, _ = examples(data.test, 1)
    pick = torch.linspace(0, len(target) - 1, min(cfg.n_eval, len(target))).round().long()
    context, target = context[pick], target[pick]
    possible = next_positions(data.test, cfg.single_speed, cfg.single_directions)[pick]  # [M, k, 2]
    candidates = render(possible[:, :, None, :], cfg.size, cfg.radius).flatten(2)  # [M, k, P]
    M, n = len(target), cfg.n_samples
    torch.manual_seed(cfg.seed + 1)
    many = context.repeat_interleave(n, 0)  # [M * n, P]
    z = torch.randint(cfg.latent_codes, (M * n,))  # codes from the uniform prior
    preds = {"regressor": regressor_predictor(regressor)(context)[:, None],
             "ebm": energy_predictor(energy, cfg)(many).reshape(M, n, -1),
             "latent": energy_predictor(latent, cfg)(latent.with_codes(many, z)).reshape(M, n, -1)}
    out = {name: {**modes(p, candidates, target), "predictions": p.shape[1]} for name, p in preds.items()}
    for name, info in (("regressor", r_info), ("ebm", e_info), ("latent", l_info)):
        out[name]["train"] = info
    save_modes(run / "single_frame.png", context, candidates, preds)
    return out


def save_modes(path: Path, context: torch.Tensor, candidates: torch.Tensor, preds: dict[str, torch.Tensor],
               rows: int = 4, shown: int = 4) -> None:
    """Per example: the frame, every possible next frame overlaid, then each model's predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S = int(round(context.shape[-1] ** 0.5))
    pick = torch.linspace(0, len(context) - 1, rows).round().long()
    columns = [("frame t", lambda i: context[i])]
    columns.append(("possible t+1", lambda i: candidates[i].amax(0)))
    for name, p in preds.items():
        for j in range(min(shown, p.shape[1])):
            columns.append((f"{name} {j + 1}" if p.shape[1] > 1 else name, lambda i, p=p, j=j: p[i, j]))
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.0 * len(columns), 1.1 * rows), squeeze=False)
    for r, i in enumerate(pick.tolist()):
        for c, (title, frame) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(frame(i).reshape(S, S).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=7)
    fig.suptitle("next frame from one held-out frame (velocity unknown)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclass
class VideoRun:
    """A `video` run rebuilt from its folder: `run.predict(context)` gives next frames."""

    path: Path
    config: VideoConfig
    models: dict[str, nn.Module]  # energy, regressor; single_frame_energy, _regressor, _latent when run
    metrics: dict

    def predict(self, context: torch.Tensor, model: str = "energy") -> torch.Tensor:
        """Next frames [B, P] from context frames [B, 2P] ([B, P] for the single-frame models; the latent one
        takes `latent.with_codes(frames, z)`), by the run's own inference settings."""
        m = self.models[choose("model", model, self.models)]
        predict = regressor_predictor(m) if isinstance(m, FrameRegressor) else energy_predictor(m, self.config)
        return predict(context)


@loader("video")
def load_video_run(path: Path) -> VideoRun:
    cfg = runs.saved_config(path, VideoConfig, "video")
    models: dict[str, nn.Module] = {"energy": frame_energy(cfg), "regressor": frame_regressor(cfg)}
    if cfg.single_frame:
        models.update(single_frame_energy=frame_energy(cfg, 1), single_frame_regressor=frame_regressor(cfg, 1),
                      single_frame_latent=latent_frame_energy(cfg))
    for name, model in models.items():
        files.load_weights(path / f"{name}.safetensors", model)
        model.eval()
    metrics_path = path / "metrics.json"
    return VideoRun(path=path, config=cfg, models=models,
                    metrics=files.read_json(metrics_path) if metrics_path.exists() else {})


def summary(metrics: dict) -> str:
    """The held-out figures as a short table."""
    lines = [f"{'model':<12}{'1-step MSE':>12}{'1-step pos px':>15}{'rollout MSE':>13}{'rollout pos px':>16}"]
    for name in ("ebm", "regressor"):
        m = metrics[name]
        lines.append(f"{name:<12}{m['one_step']['mse']:>12.4f}{m['one_step']['position_error']:>15.3f}"
                     f"{m['rollout']['mse']:>13.4f}{m['rollout']['position_error']:>16.3f}")
    if metrics.get("ablation"):
        head = "negatives (same training time)"
        lines.append(f"\n{head:<40}{'steps':>7}{'1-step MSE':>12}{'1-step pos px':>15}")
        for spec, m in metrics["ablation"].items():
            lines.append(f"{spec:<40}{m['train']['steps']:>7}{m['one_step']['mse']:>12.4f}"
                         f"{m['one_step']['position_error']:>15.3f}")
    if metrics.get("single_frame"):
        sf = metrics["single_frame"]
        k = sf["latent"]["modes_possible"]
        lines.append(f"\n{'single frame (velocity unknown)':<34}{'modes reached':>14}{'on a mode':>11}"
                     f"{'MSE to mode':>13}   ({sf['latent']['modes_distinct']:.2f} distinct possible)")
        for name in ("regressor", "ebm", "latent"):
            m = sf[name]
            label = f"{name} ({m['predictions']} predictions)"
            lines.append(f"{label:<34}{m['modes_reached']:>9.2f} / {k}{m['predictions_on_a_mode']:>11.2f}"
                         f"{m['mse_to_nearest_mode']:>13.4f}")
    return "\n".join(lines)
