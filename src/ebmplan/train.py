"""One contrastive trainer for every energy: a config in, a run folder out."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import metrics, plots
from .data.toy2d import PointData, load_data
from .energy.architectural import METHODS, KMeansEnergy, PCAEnergy, SparseAutoencoderEnergy
from .energy.inference import SCHEDULES, descend
from .energy.losses import get_loss
from .energy.models import EnergyModel, MLPEnergy
from .energy.negatives import parse_negatives, uniform_in
from .errors import ConfigError, Divergence, choose
from .resources import FLOAT, RUNTIME, chains_at_once, check_memory, mlp_params, network_bytes
from .runs import (
    ScalarLog,
    load_checkpoint,
    load_weights,
    prepare_run_dir,
    progress,
    read_json,
    require_tensorboard,
    resolve_device,
    rng_state,
    save_checkpoint,
    save_weights,
    seed_everything,
    set_rng_state,
    system_info,
    write_json,
)


@dataclass
class TrainConfig:
    """Train a contrastive energy model on point data and write a run folder."""

    data: str = "spiral"
    """named data set (spiral, moons, rings, 8gaussians, checkerboard, pinwheel, swissroll) or a .npy/.csv file"""
    out: str | None = None
    """run folder (default: runs/<command>-<time>)"""
    seed: int = 0
    """seed for data, initialisation, negatives and inference"""
    width: int = 128
    """hidden units per layer"""
    depth: int = 3
    """hidden layers"""
    activation: str = "silu"
    """silu, relu, tanh, elu, gelu, softplus or leaky_relu"""
    spectral_norm: bool = False
    """spectral normalisation on every layer (a smoother, Lipschitz-bounded landscape)"""
    loss: str = "log"
    """margin, hinge, log, square-square, square-exp, infonce or cd"""
    margin: float = 1.0
    """margin of the margin, hinge and square-square losses; also the hard-negative threshold"""
    temperature: float = 1.0
    """temperature of the infonce loss"""
    l2: float = 0.1
    """energy L2 weight of the cd loss"""
    negatives: str = "uniform:0.5,perturb:0.25,hard:0.25"
    """weighted mixture of negative kinds: uniform, perturb, model, hard"""
    n_negatives: int = 8
    """negatives per positive"""
    perturb_sigma: float = 0.1
    """noise std of perturb negatives"""
    hard_size: int = 4096
    """capacity of the prioritized hard-negative buffer"""
    hard_alpha: float = 1.0
    """priority exponent of the hard-negative buffer (0 = uniform over the buffer)"""
    hard_refresh: float = 0.25
    """fraction of the hard-negative buffer re-scored with the current model every step"""
    model_steps: int = 10
    """gradient steps per model-sample negative"""
    model_step_size: float = 0.01
    """step size of model-sample negatives"""
    model_noise: float = 0.005
    """Langevin noise of model-sample negatives"""
    steps: int = 2000
    """training steps"""
    batch_size: int = 256
    """positives per step"""
    lr: float = 1e-3
    """Adam learning rate"""
    grad_clip: float = 10.0
    """clip the global gradient norm to this (0 = off)"""
    n_samples: int = 2000
    """samples drawn by inference at the end, from uniform noise over the padded box"""
    infer_steps: int = 300
    """inference: gradient-descent step cap"""
    infer_step_size: float | None = None
    """inference: initial step size (default: 0.002 for contrastive energies, whose slopes are steep; 0.1 for
    the architectural ones, whose energies are squared distances)"""
    infer_final_step_size: float | None = None
    """inference: final step size of the schedule (default: the initial one)"""
    infer_schedule: str = "constant"
    """inference: step-size schedule (constant, cosine, exponential)"""
    infer_max_move: float = 0.05
    """inference: longest move per step"""
    infer_tol: float = 1e-3
    """inference: a sample has converged when it moves less than this"""
    checkpoint_every: int = 500
    """steps between checkpoints"""
    log_every: int = 50
    """steps between rows of metrics.csv"""
    device: str = "cpu"
    """auto, cpu or cuda"""
    overwrite: bool = False
    """replace an existing run folder"""
    resume: str | None = None
    """continue the run in this folder from its last checkpoint (its saved config is used)"""
    method: str = "contrastive"
    """contrastive, or an architectural energy fitted its own way, without negatives: pca (SVD), kmeans
    (Lloyd's algorithm, at most --steps iterations) or sparse-ae (Adam, --steps steps of --batch-size)"""
    n_components: int = 1
    """pca: principal components kept (in 2D, 1 makes a straight line of low energy)"""
    n_clusters: int = 64
    """kmeans: centroids"""
    code_dim: int = 64
    """sparse-ae: code units (its encoder and decoder have --depth layers of --width units)"""
    sparsity: float = 0.1
    """sparse-ae: weight of the L1 code penalty, in training and in the energy"""
    tensorboard: bool = False
    """also write the scalars of metrics.csv to RUN/tensorboard/ for TensorBoard (needs the tensorboard extra)"""

    def validate(self) -> None:
        """Check every value before any work starts; raise one ConfigError naming the first bad one."""
        positive = {"width": self.width, "depth": self.depth, "n_negatives": self.n_negatives,
                    "steps": self.steps, "batch_size": self.batch_size, "n_samples": self.n_samples,
                    "checkpoint_every": self.checkpoint_every, "log_every": self.log_every,
                    "n_components": self.n_components, "n_clusters": self.n_clusters,
                    "code_dim": self.code_dim}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        for name in ("lr", "temperature", "perturb_sigma", "infer_step_size", "infer_final_step_size",
                     "infer_max_move"):
            value = getattr(self, name)
            if value is None:  # a default chosen at inference time
                continue
            if not value > 0 or not math.isfinite(value):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
        for name in ("margin", "l2", "grad_clip", "infer_steps", "infer_tol", "model_steps", "sparsity"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        get_loss(self.loss)
        choose("step-size schedule", self.infer_schedule, SCHEDULES)
        MLPEnergy(2, width=1, depth=1, activation=self.activation)  # checks the activation name
        choose("method", self.method, METHODS)
        negatives = self.make_negatives((torch.zeros(2), torch.ones(2)))  # checks the spec and its options
        if "mismatched" in negatives.parts:
            raise ConfigError("mismatched negatives pair an input with another example's output, so they need a "
                              "conditional task (ebmplan conditional); unconditional training cannot use them")
        if self.method == "kmeans":
            what, hint = f"k-means with {self.n_clusters} clusters", "use a smaller --n-clusters"
        else:
            what, hint = f"training a width-{self.width} network", "use a smaller --width (or --batch-size)"
        check_memory(self.memory_needed(), what, hint, device=resolve_device(self.device))
        require_tensorboard(self.tensorboard)

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the network's parameters with their gradients and
        Adam's moments; the hard-negative buffer; and the largest of the passing peaks: the activations of a
        training batch of positives and negatives, of the sample chains (and model negatives' chains) in
        inference, of the 200 x 200 energy grid scored in one pass at evaluation, and evaluation's MMD, whose
        float64 kernel matrices over 4000 points take about 512 MB whatever the network. Points count as 2D (a
        data file is only read when training starts). Measured peaks (resident memory above the imports):
        586 MB for the defaults, estimated 613 MB; 727 MB at --width 1024, estimated 663 MB.
        """
        B, n, W, L = self.batch_size, self.n_negatives, self.width, self.depth
        grid = 200 * 200  # metrics.nll and the landscape figure score the grid in one pass
        mmd = 4 * 8 * 4000**2  # distances, kernel sum and two temporaries, float64, over 2000 + 2000 points
        if self.method == "pca":
            return RUNTIME + mmd
        if self.method == "kmeans":  # distances of every grid point (or sample chain) to every centroid
            return RUNTIME + max(mmd, FLOAT * 3 * self.n_clusters * max(grid, self.n_samples))
        if self.method == "sparse-ae":  # encoder and decoder; autograd descends all sample chains at once
            return RUNTIME + network_bytes(2 * mlp_params(2, W, L, self.code_dim), W, 2 * L,
                                           train_rows=max(B, self.n_samples), forward_rows=grid, other_peak=mmd)
        chains = max(self.n_samples, B * n if "model" in self.negatives else 0)
        hard = FLOAT * 3 * self.hard_size if "hard" in self.negatives else 0  # its points and energies
        return RUNTIME + hard + network_bytes(
            mlp_params(2, W, L), W, L, train_rows=B * (1 + n),
            forward_rows=max(grid, int(self.hard_refresh * self.hard_size)),
            chain_rows=chains_at_once(chains, W, resolve_device(self.device)), other_peak=mmd,
            copies=8 if self.spectral_norm else 6)  # spectral norm keeps the raw and the normalised weights

    def make_negatives(self, box):
        return parse_negatives(self.negatives, box, perturb_sigma=self.perturb_sigma, hard_size=self.hard_size,
                               hard_alpha=self.hard_alpha, hard_refresh=self.hard_refresh,
                               model_steps=self.model_steps, model_step_size=self.model_step_size,
                               model_noise=self.model_noise)


def build_energy(cfg: TrainConfig, dim: int) -> EnergyModel:
    if cfg.method == "pca":
        return PCAEnergy(dim, cfg.n_components)
    if cfg.method == "kmeans":
        return KMeansEnergy(dim, cfg.n_clusters)
    if cfg.method == "sparse-ae":
        return SparseAutoencoderEnergy(dim, cfg.code_dim, cfg.sparsity, width=cfg.width, depth=cfg.depth)
    return MLPEnergy(dim, width=cfg.width, depth=cfg.depth, activation=cfg.activation,
                     spectral_norm=cfg.spectral_norm)


def train(cfg: TrainConfig, *, command: str = "train") -> Path:
    """Train per `cfg` and return the run folder, which holds config, metrics, weights, samples and plots."""
    if cfg.resume:
        run = Path(cfg.resume)
        cfg = TrainConfig(**{**read_json(run / "config.json")["config"], "resume": cfg.resume})
        require_tensorboard(cfg.tensorboard)
        state = load_checkpoint(run / "checkpoint.pt")
    else:
        cfg.validate()
        state = None
    device = resolve_device(cfg.device)
    data = load_data(cfg.data, seed=cfg.seed)
    if state is None:
        run = prepare_run_dir(cfg.out, command, overwrite=cfg.overwrite)
        write_json(run / "config.json", {"kind": "energy", "command": command, "config": cfg})
    write_json(run / "system.json", system_info(str(device)))

    seed_everything(cfg.seed)
    energy = build_energy(cfg, data.dim).to(device)
    if cfg.method != "contrastive":
        return _fit_architectural(energy, data, cfg, run, state)
    optimizer = torch.optim.Adam(energy.parameters(), lr=cfg.lr)
    box = (data.low.to(device), data.high.to(device))
    negatives = cfg.make_negatives(box)
    loss_fn = get_loss(cfg.loss)
    train_x = data.train.to(device)
    start, elapsed = 0, 0.0
    if state is not None:
        energy.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        negatives.load_state_dict(state["negatives"])
        set_rng_state(state["rng"])
        start, elapsed = state["step"], state["train_seconds"]

    def checkpoint(step: int, seconds: float) -> None:
        save_checkpoint(run / "checkpoint.pt", {
            "model": energy.state_dict(), "optimizer": optimizer.state_dict(), "negatives": negatives.state_dict(),
            "rng": rng_state(), "step": step, "train_seconds": seconds})
        save_weights(run / "model.safetensors", energy)

    log = ScalarLog(run, ["loss", "energy_pos", "energy_neg", "energy_gap", "seconds"],
                    tensorboard=cfg.tensorboard, resume_step=None if state is None else start)
    bar = progress(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {data.name}")
    t0 = time.perf_counter() - elapsed
    for step in bar:
        pos = train_x[torch.randint(len(train_x), (cfg.batch_size,), device=device)]  # [B, D]
        neg = negatives.sample(pos, cfg.n_negatives, energy)  # [B, n, D]
        e = energy(torch.cat([pos, neg.reshape(-1, data.dim)]))  # [B + B*n]
        e_pos, e_neg = e[: cfg.batch_size], e[cfg.batch_size:].reshape(cfg.batch_size, -1)  # [B], [B, n]
        loss = loss_fn(e_pos, e_neg, margin=cfg.margin, temperature=cfg.temperature, l2=cfg.l2)
        if not (torch.isfinite(loss) and torch.isfinite(e).all()):
            _diverged(run, step, "loss or energy")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(energy.parameters(), cfg.grad_clip or float("inf"))
        if not torch.isfinite(grad_norm):
            _diverged(run, step, "gradient")
        optimizer.step()
        if not all(torch.isfinite(p).all() for p in energy.parameters()):  # e.g. an absurd learning rate
            _diverged(run, step, "model weights")
        negatives.observe(neg, e_neg.detach(), e_pos.detach(), cfg.margin)
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            gap = (e_neg.mean() - e_pos.mean()).item()
            log.write(done, {"loss": loss.item(), "energy_pos": e_pos.mean().item(),
                             "energy_neg": e_neg.mean().item(), "energy_gap": gap,
                             "seconds": f"{time.perf_counter() - t0:.3f}"})
            bar.set_postfix(loss=f"{loss.item():.4f}", gap=f"{gap:.3f}")
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            with torch.no_grad():  # only a model that still gives finite energies is worth keeping
                if not torch.isfinite(energy(torch.cat([pos, neg.reshape(-1, data.dim)]))).all():
                    _diverged(run, step, "energy after the update")
            checkpoint(done, time.perf_counter() - t0)
    log.close()
    train_seconds = time.perf_counter() - t0
    if start == cfg.steps:  # resumed a finished run: nothing trained, keep its recorded time
        train_seconds = elapsed
    evaluate(energy, data, cfg, run, train_seconds)
    return run


def _fit_architectural(energy, data: PointData, cfg: TrainConfig, run: Path, state: dict | None) -> Path:
    """PCA, k-means or the sparse autoencoder: fitted by its own method, then evaluated like any run."""
    if state is not None:  # resuming a finished fit: evaluate it again
        energy.load_state_dict(state["model"])
        seconds = state["train_seconds"]
    else:
        t0 = time.perf_counter()
        try:
            history = energy.fit(data.train.to(_device_of(energy)), steps=cfg.steps,
                                 batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
        except FloatingPointError as err:
            raise Divergence(f"{err}; try a lower --lr") from None
        seconds = time.perf_counter() - t0
        log = ScalarLog(run, ["loss"], tensorboard=cfg.tensorboard)
        for i, v in enumerate(history):
            log.write(i + 1, {"loss": v})
        log.close()
        save_checkpoint(run / "checkpoint.pt", {"model": energy.state_dict(), "step": len(history),
                                                "train_seconds": seconds})
        save_weights(run / "model.safetensors", energy)
    energy.eval()
    evaluate(energy, data, cfg, run, seconds)
    return run


def _diverged(run: Path, step: int, what: str) -> None:
    kept = (f"the last good checkpoint is kept in {run / 'checkpoint.pt'}" if (run / "checkpoint.pt").exists()
            else "no checkpoint had been written yet")
    raise Divergence(f"training diverged at step {step + 1}: the {what} is not finite; {kept}; try a lower --lr, "
                     f"a smaller --grad-clip, --spectral-norm, or the cd loss with a larger --l2")


def infer_samples(energy: EnergyModel, data: PointData, cfg: TrainConfig, n: int):
    """Gradient descent from uniform noise over the padded box: the model's own samples."""
    box = (data.low.to(_device_of(energy)), data.high.to(_device_of(energy)))
    x0 = uniform_in(box, (n,))
    step_size = cfg.infer_step_size or (0.002 if cfg.method == "contrastive" else 0.1)
    return descend(energy, x0, steps=cfg.infer_steps, step_size=step_size,
                   final_step_size=cfg.infer_final_step_size, schedule=cfg.infer_schedule,
                   max_move=cfg.infer_max_move, tol=cfg.infer_tol, box=box)


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def evaluate(energy: EnergyModel, data: PointData, cfg: TrainConfig, run: Path, train_seconds: float) -> dict:
    """Draw samples, measure them (docs/protocol.md §2), and write samples.npy, metrics.json and landscape.png."""
    torch.manual_seed(cfg.seed + 1)  # inference draws its own noise: independent of where training stopped
    t0 = time.perf_counter()
    result = infer_samples(energy, data, cfg, cfg.n_samples)
    infer_seconds = time.perf_counter() - t0
    energy = energy.cpu()
    samples = result.samples.cpu()
    np.save(run / "samples.npy", samples.numpy())
    reference = data.reference
    out = {"precision": metrics.precision(samples, reference), "coverage": metrics.coverage(samples, reference),
           "mmd": metrics.mmd(samples, data.test), "mmd_floor": metrics.mmd(data.train, data.test),
           "converged": float(result.converged.float().mean()), "infer_steps_mean": float(result.steps.float().mean()),
           "train_seconds": train_seconds, "infer_seconds": infer_seconds, "steps": cfg.steps,
           "reference": "clean curve" if data.clean is not None else "test split"}
    if data.dim == 2:
        out.update(metrics.nll(energy, data.val, data.test, data.low, data.high))
        plots.save_landscape(run / "landscape.png", energy, data.low, data.high, data=data.train, samples=samples,
                             title=f"{data.name}: precision {out['precision']:.3f}, coverage {out['coverage']:.2f}")
    write_json(run / "metrics.json", out)
    return out


@dataclass
class EnergyRun:
    """A trained energy run, rebuilt from its folder."""

    path: Path
    config: TrainConfig
    energy: EnergyModel
    data: PointData
    metrics: dict

    def sample(self, n: int = 2000) -> torch.Tensor:
        """New samples by the run's own inference settings: [n, D]."""
        return infer_samples(self.energy, self.data, self.config, n).samples


def load_energy_run(path: Path) -> EnergyRun:
    saved = read_json(path / "config.json")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(saved["config"]) - fields
    if unknown:
        raise ConfigError(f"{path}/config.json has settings this ebmplan does not know: {', '.join(sorted(unknown))}")
    cfg = TrainConfig(**saved["config"])
    data = load_data(cfg.data, seed=cfg.seed)
    energy = build_energy(cfg, data.dim)
    load_weights(path / "model.safetensors", energy)
    energy.eval()
    metrics_path = path / "metrics.json"
    return EnergyRun(path=path, config=cfg, energy=energy, data=data,
                     metrics=read_json(metrics_path) if metrics_path.exists() else {})
