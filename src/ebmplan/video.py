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
from dataclasses import dataclass
from pathlib import Path

import torch

from . import runs
from .data.video import VideoData, Videos, centre_of_mass, load_videos, triples
from .energy.frames import FrameEnergy, FrameNegatives, FrameRegressor, parse_frame_negatives
from .energy.inference import descend
from .energy.losses import get_loss
from .errors import ConfigError


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
    """balls per video"""
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
    """weighted mixture of negative kinds: uniform, perturb, mismatched, hard (e.g. 'uniform:2,hard:1')"""
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
    ablation: str = "uniform;uniform,mismatched;uniform,mismatched,hard"
    """negative mixtures compared in the ablation, separated by ';' (empty: no ablation)"""
    ablation_seconds: float = 30.0
    """wall-clock training time given to each ablation arm"""
    device: str = "cpu"
    """auto, cpu or cuda"""
    overwrite: bool = False
    """replace an existing run folder"""

    def validate(self) -> None:
        """Check every value before any work starts; raise one ConfigError naming the first bad one."""
        for name in ("size", "n_balls", "n_train", "n_test", "width", "depth", "n_negatives", "hard_pool",
                     "steps", "batch_size", "infer_steps", "n_eval", "rollout"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.length < self.rollout + 2:
            raise ConfigError(f"--length must be at least --rollout + 2 = {self.rollout + 2}, "
                              f"got {self.length}")
        for name in ("lr", "temperature", "perturb_sigma", "infer_step_size", "infer_max_move", "radius"):
            value = getattr(self, name)
            if not value > 0 or not math.isfinite(value):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
        if self.margin < 0 or self.ablation_seconds < 0:
            raise ConfigError("--margin and --ablation-seconds must be >= 0")
        get_loss(self.loss)
        parse_frame_negatives(self.negatives)
        for spec in self.arms():
            parse_frame_negatives(spec)
        FrameEnergy(1, width=1, depth=1, activation=self.activation)  # checks the activation name

    def arms(self) -> list[str]:
        return [s.strip() for s in self.ablation.split(";") if s.strip()]


def make_data(cfg: VideoConfig) -> VideoData:
    return load_videos(n_train=cfg.n_train, n_test=cfg.n_test, length=cfg.length, size=cfg.size,
                       n_balls=cfg.n_balls, radius=cfg.radius, speed=(cfg.speed_min, cfg.speed_max),
                       seed=cfg.seed)


def train_energy(cfg: VideoConfig, train: Videos, negatives: str, *, steps: int | None = None,
                 seconds: float | None = None, seed: int = 0) -> tuple[FrameEnergy, dict]:
    """Contrastive training for `steps` steps, or for `seconds` of wall-clock time when given."""
    torch.manual_seed(seed)
    P = cfg.size * cfg.size
    context, target, where = triples(train)  # [M, 2P], [M, P], [M, 2]
    energy = FrameEnergy(P, width=cfg.width, depth=cfg.depth, activation=cfg.activation)
    optimizer = torch.optim.Adam(energy.parameters(), lr=cfg.lr)
    sampler = FrameNegatives(train.frames.reshape(*train.frames.shape[:2], P), where,
                             parse_frame_negatives(negatives), perturb_sigma=cfg.perturb_sigma,
                             hard_pool=cfg.hard_pool)
    loss_fn = get_loss(cfg.loss)
    t0, step, loss = time.perf_counter(), 0, torch.tensor(float("nan"))
    while (step < steps) if seconds is None else (time.perf_counter() - t0 < seconds):
        idx = torch.randint(len(target), (cfg.batch_size,))
        c, y = context[idx], target[idx]
        neg = sampler.sample(idx, y, c, cfg.n_negatives, energy)  # [B, n, P]
        e_pos, e_neg = energy(y, c), energy.energies(neg, c)  # [B], [B, n]
        loss = loss_fn(e_pos, e_neg, margin=cfg.margin, temperature=cfg.temperature)
        if not torch.isfinite(loss):
            raise ConfigError(f"energy training diverged at step {step + 1} (non-finite loss); "
                              f"try a lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
    return energy, {"steps": step, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def train_regressor(cfg: VideoConfig, train: Videos, *, seed: int = 0) -> tuple[FrameRegressor, dict]:
    torch.manual_seed(seed)
    P = cfg.size * cfg.size
    context, target, _ = triples(train)
    model = FrameRegressor(P, width=cfg.width, depth=cfg.depth, activation=cfg.activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        idx = torch.randint(len(target), (cfg.batch_size,))
        loss = (model(context[idx]) - target[idx]).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model, {"steps": cfg.steps, "seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def energy_predictor(energy: FrameEnergy, cfg: VideoConfig):
    """Next frame by gradient descent from uniform noise, clamped to the pixel range [0, 1]."""
    box = (torch.zeros(energy.dim), torch.ones(energy.dim))

    def predict(context: torch.Tensor) -> torch.Tensor:
        x0 = torch.rand(len(context), energy.dim)
        return descend(energy, x0, context=context, steps=cfg.infer_steps, step_size=cfg.infer_step_size,
                       max_move=cfg.infer_max_move, tol=1e-4, box=box).samples

    return predict


def regressor_predictor(model: FrameRegressor):
    @torch.no_grad()
    def predict(context: torch.Tensor) -> torch.Tensor:
        return model(context).clamp(0, 1)

    return predict


def errors(pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame pixel MSE [B] and ball-position error in pixels [B] (centres of mass)."""
    return (pred - true).pow(2).mean(1), (centre_of_mass(pred) - centre_of_mass(true)).norm(dim=1)


def one_step(predict, test: Videos, n: int) -> dict:
    """Held-out one-step errors on `n` examples spread evenly over the test triples."""
    context, target, _ = triples(test)
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


def run_video(cfg: VideoConfig, *, command: str = "video") -> Path:
    """Train both models, measure them on held-out videos, run the ablation, and write the run folder."""
    cfg.validate()
    if runs.resolve_device(cfg.device).type != "cpu":
        raise ConfigError("ebmplan video runs on the CPU only; use --device cpu")
    run = runs.prepare_run_dir(cfg.out, command, overwrite=cfg.overwrite)
    runs.write_json(run / "config.json", {"kind": "video", "command": command, "config": cfg})
    runs.write_json(run / "system.json", runs.system_info("cpu"))
    runs.seed_everything(cfg.seed)
    data = make_data(cfg)

    energy, e_train = train_energy(cfg, data.train, cfg.negatives, steps=cfg.steps, seed=cfg.seed)
    regressor, r_train = train_regressor(cfg, data.train, seed=cfg.seed)
    runs.save_weights(run / "energy.safetensors", energy)
    runs.save_weights(run / "regressor.safetensors", regressor)
    runs.save_checkpoint(run / "checkpoint.pt",
                    {"energy": energy.state_dict(), "regressor": regressor.state_dict(), "step": cfg.steps})

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
        arm, info = train_energy(cfg, data.train, spec, seconds=cfg.ablation_seconds, seed=cfg.seed)
        torch.manual_seed(cfg.seed + 1)
        out["ablation"][spec] = {"one_step": one_step(energy_predictor(arm, cfg), data.test, cfg.n_eval),
                                 "train": info}
    out["held_out"] = {"videos": cfg.n_test, "rollout_videos": cfg.n_test,
                       "one_step_examples": min(cfg.n_eval, cfg.n_test * (cfg.length - 2))}
    runs.write_json(run / "metrics.json", out)
    return run


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
    return "\n".join(lines)
