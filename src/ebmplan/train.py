"""One contrastive trainer for every energy: a config in, a run folder out.

Training sees standardised points (each column of the training split shifted to mean 0 and scaled to std 1), so
one recipe fits data of any scale; samples, NLL and figures are mapped back to the data's own units. Training
stops when the validation NLL has not improved for `patience` checks (at most `steps` steps) and keeps the
best model seen (docs/protocol.md §2).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import metrics, plots
from .config import Contrastive, Inference, Network, Optimiser, RunOptions
from .data.toy2d import PointData, load_data
from .energy.architectural import METHODS, KMeansEnergy, PCAEnergy, SparseAutoencoderEnergy
from .energy.inference import SCHEDULES, descend
from .energy.models import EnergyModel, MLPEnergy
from .energy.negatives import parse_negatives, uniform_in
from .energy.step import GradientStep
from .errors import ConfigError, choose
from .files import load_weights, read_json, write_json
from .monitor import progress
from .resources import FLOAT, RUNTIME, chains_at_once, check_memory, mlp_params, network_bytes
from .runs import (
    Run,
    loader,
    resolve_device,
    resumed_config,
    rng_state,
    saved_config,
    seed_everything,
    set_rng_state,
)


@dataclass
class TrainConfig(RunOptions, Network, Optimiser, Contrastive, Inference):
    """Train a contrastive energy model on point data and write a run folder."""

    data: str = "spiral"
    """named data set (spiral, or the suite: 8gaussians, 25gaussians, 2spirals, swissroll, circles, rings, moons,
    pinwheel, checkerboard) or a .npy/.csv file of N x D points"""
    standardise: bool = True
    """train on standardised points (each column to mean 0 and std 1 over the training split); samples, NLL and
    figures are mapped back to the data's units. The step sizes and noise scales below are in standardised
    units when this is on"""
    lr: float = 3e-3
    """Adam learning rate"""
    steps: int = 6000
    """training steps at most (training stops sooner when the validation NLL stops improving: --patience)"""
    min_steps: int = 2000
    """training steps before training may stop early (a validation NLL can stall for a while before the modes
    of a mixture split)"""
    patience: int = 5
    """stop when the validation NLL (checked every --log-every steps) has not improved by 0.01 nats for this
    many checks, and keep the best model seen; 0 = train all --steps and keep the last"""
    average: float = 0.99
    """decay per step of the moving average of the weights, the model that is validated and kept (it smooths
    the step-to-step noise of the learning rate); 0 = the weights themselves"""
    spectral_norm: bool = False
    """spectral normalisation on every layer (a smoother, Lipschitz-bounded landscape)"""
    negatives: str = "uniform:0.5,perturb:0.5"
    """weighted mixture of negative kinds: uniform, perturb, model, hard (hard negatives help a sampler spread
    along a curve but bias the density and slow the splitting of mixtures: docs/results/suite.md)"""
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
    batch_size: int = 256
    """positives per step"""
    n_samples: int = 2000
    """samples drawn by inference at the end, from uniform noise over the padded box"""
    perturb_sigma: float = 0.13
    """noise std of perturb negatives"""
    infer_step_size: float | None = None
    """inference: initial step size (default: 0.0035 for contrastive energies, whose slopes are steep; 0.1 for
    the architectural ones, whose energies are squared distances)"""
    infer_final_step_size: float | None = None
    """inference: final step size of the schedule (default: the initial one)"""
    infer_schedule: str = "constant"
    """inference: step-size schedule (constant, cosine, exponential)"""
    infer_max_move: float = 0.066
    """inference: longest move per step"""
    infer_tol: float = 8e-3
    """inference: a sample has converged when it moves less than this (it then stays where it reached the
    valley, instead of sliding along it)"""
    checkpoint_every: int = 500
    """steps between checkpoints"""
    log_every: int = 100
    """steps between rows of metrics.csv, each with a validation check"""
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

    @classmethod
    def from_saved(cls, settings: dict) -> dict:
        """Settings of a run made before standardisation and early stopping: it trained on raw points for all
        its steps."""
        if "standardise" in settings:
            return settings
        old = {"standardise": False, "patience": 0, "average": 0.0, **settings}
        if old.get("infer_step_size") is None and old.get("method", "contrastive") == "contrastive":
            old["infer_step_size"] = 0.002  # the default of that time, in the data's units
        return old

    def check(self) -> None:
        self.require(at_least_one=("n_samples", "checkpoint_every", "log_every", "n_components", "n_clusters",
                                   "code_dim"),
                     positive=("infer_final_step_size",),
                     non_negative=("infer_tol", "model_steps", "sparsity", "patience", "min_steps"))
        if not 0 <= self.average < 1:
            raise ConfigError(f"--average must be in [0, 1), got {self.average}")
        choose("step-size schedule", self.infer_schedule, SCHEDULES)
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
    cfg = resumed_config(cfg, "energy")
    data = load_data(cfg.data, seed=cfg.seed, standardise=cfg.standardise)  # a bad file stops here, before any folder
    run = Run.start(cfg, "energy", command)
    device = run.device
    state = run.load_checkpoint()

    seed_everything(cfg.seed)
    energy = build_energy(cfg, data.dim).to(device)
    if cfg.method != "contrastive":
        return _fit_architectural(energy, data, cfg, run, state)
    optimizer = torch.optim.Adam(energy.parameters(), lr=cfg.lr)
    update = GradientStep(energy, optimizer, what="energy model", grad_clip=cfg.grad_clip, remedy=REMEDY,
                          checkpoint=run.checkpoint_path)
    box = tuple(b.to(device) for b in data.model_box)
    negatives = cfg.make_negatives(box)
    loss_fn = cfg.make_loss()
    train_x = data.to_model(data.train).to(device)  # [N, D], standardised
    validation = Validation(data, device)
    average = WeightAverage(energy, cfg.average)
    best = BestModel(cfg.patience, min_steps=cfg.min_steps)
    start, elapsed = 0, 0.0
    if state is not None:
        energy.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        negatives.load_state_dict(state["negatives"])
        best.load_state_dict(state["best"])
        average.model.load_state_dict(state["average"])
        set_rng_state(state["rng"])
        start, elapsed = state["step"], state["train_seconds"]

    def checkpoint(step: int, seconds: float) -> None:
        run.save_checkpoint({"model": energy.state_dict(), "optimizer": optimizer.state_dict(),
                             "negatives": negatives.state_dict(), "best": best.state_dict(),
                             "average": average.model.state_dict(), "rng": rng_state(), "step": step,
                             "train_seconds": seconds})
        run.save_weights(best.model_of(average.model))

    log = run.log(["loss", "energy_pos", "energy_neg", "energy_gap", "val_nll", "seconds"],
                  resume_step=None if state is None else start)
    steps = start if best.stopped else cfg.steps
    bar = progress(range(start, steps), initial=start, total=cfg.steps, desc=f"train {data.name}")
    t0 = time.perf_counter() - elapsed
    for step in bar:
        done = step + 1
        pos = train_x[torch.randint(len(train_x), (cfg.batch_size,), device=device)]  # [B, D]
        neg = negatives.sample(pos, cfg.n_negatives, energy)  # [B, n, D]
        e = energy(torch.cat([pos, neg.reshape(-1, data.dim)]))  # [B + B*n]
        e_pos, e_neg = e[: cfg.batch_size], e[cfg.batch_size:].reshape(cfg.batch_size, -1)  # [B], [B, n]
        loss = loss_fn(e_pos, e_neg)
        update(loss, done, e)
        negatives.observe(neg, e_neg.detach(), e_pos.detach(), cfg.margin)
        average.update(energy)
        if done % cfg.log_every == 0 or done == cfg.steps:
            val_nll = validation(average.model)
            best.observe(val_nll, done, average.model)
            gap = (e_neg.mean() - e_pos.mean()).item()
            log.write(done, {"loss": loss.item(), "energy_pos": e_pos.mean().item(),
                             "energy_neg": e_neg.mean().item(), "energy_gap": gap, "val_nll": val_nll,
                             "seconds": f"{time.perf_counter() - t0:.3f}"})
            bar.set_postfix(loss=f"{loss.item():.4f}", gap=f"{gap:.3f}", val_nll=f"{val_nll:.3f}")
        if done % cfg.checkpoint_every == 0 or done == cfg.steps or best.stopped:
            with torch.no_grad():  # only a model that still gives finite energies is worth keeping
                if not torch.isfinite(energy(torch.cat([pos, neg.reshape(-1, data.dim)]))).all():
                    run.diverged("energy model", done, "energies after the update", REMEDY)
            checkpoint(done, time.perf_counter() - t0)
        if best.stopped:
            break
    log.close()
    bar.close()
    train_seconds = time.perf_counter() - t0
    if start == steps:  # resumed a finished run: nothing trained, keep its recorded time
        train_seconds = elapsed
    energy = best.model_of(average.model)
    measure(energy, data, cfg, run.path, train_seconds, steps=best.last_step or start, best_step=best.step)
    return run.path


class Validation:
    """The validation NLL of a model (in standardised units), for early stopping: exp(-E/T) / Z with T fitted
    on the validation split itself, Z summed over a 100 x 100 grid of the box in 2D (over 10,000 fixed uniform
    points of it in other dimensions)."""

    def __init__(self, data: PointData, device: torch.device, cells: int = 10_000):
        low, high = data.model_box
        if data.dim == 2:
            side = round(math.sqrt(cells))
            u = (torch.arange(side) + 0.5) / side
            points = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)  # [side^2, 2]
        else:  # its own generator: training's random stream stays as it was
            points = torch.rand(cells, data.dim, generator=torch.Generator().manual_seed(0))
        self.points = (low + (high - low) * points).to(device)  # [C, D]
        self.val = data.to_model(data.val).clamp(low, high).to(device)  # [M, D]
        self.log_cell = float(torch.log(high - low).sum()) - math.log(len(points))

    @torch.no_grad()
    def __call__(self, energy: EnergyModel) -> float:
        e_val = energy(self.val)
        return metrics.fitted_nll(e_val, e_val, energy(self.points), self.log_cell)[0]


class WeightAverage:
    """An exponential moving average of a model's weights, `decay` per step (`model`, a copy of the network):
    the model that is validated and kept. With decay 0 it is the weights themselves."""

    def __init__(self, energy: EnergyModel, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(energy).requires_grad_(False)

    @torch.no_grad()
    def update(self, energy: EnergyModel) -> None:
        for kept, new in zip(self.model.state_dict().values(), energy.state_dict().values(), strict=True):
            if kept.is_floating_point():
                kept.lerp_(new, 1 - self.decay)
            else:
                kept.copy_(new)


class BestModel:
    """Early stopping: keeps the weights of the best validation NLL and says when `patience` checks in a row
    have not improved on it by MIN_IMPROVEMENT, once `min_steps` steps are done (never, with patience 0: then
    the last model is kept)."""

    MIN_IMPROVEMENT = 0.01  # nats

    def __init__(self, patience: int, *, min_steps: int = 0):
        self.patience, self.min_steps = patience, min_steps
        self.value, self.step, self.stale, self.stopped = math.inf, 0, 0, False
        self.last_step = 0
        self.weights: dict[str, torch.Tensor] | None = None

    def observe(self, value: float, step: int, energy: EnergyModel) -> None:
        self.last_step = step
        if not self.patience:
            return
        if value < self.value - self.MIN_IMPROVEMENT or self.weights is None:
            self.value, self.step, self.stale = min(value, self.value), step, 0
            self.weights = {k: v.detach().clone() for k, v in energy.state_dict().items()}
        else:
            self.stale += 1
            self.stopped = self.stale >= self.patience and step >= self.min_steps

    def model_of(self, energy: EnergyModel) -> EnergyModel:
        """The model to keep: a copy of `energy` with the best weights (`energy` itself, with patience 0)."""
        if self.weights is None:
            return energy
        kept = copy.deepcopy(energy)
        kept.load_state_dict(self.weights)
        return kept

    def state_dict(self) -> dict:
        return {"value": self.value, "step": self.step, "stale": self.stale, "stopped": self.stopped,
                "last_step": self.last_step, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _fit_architectural(energy, data: PointData, cfg: TrainConfig, run: Run, state: dict | None) -> Path:
    """PCA, k-means or the sparse autoencoder: fitted by its own method, then evaluated like any run."""
    if state is not None:  # resuming a finished fit: measure it again
        energy.load_state_dict(state["model"])
        seconds = state["train_seconds"]
    else:
        t0 = time.perf_counter()
        history = energy.fit(data.to_model(data.train).to(_device_of(energy)), steps=cfg.steps,
                             batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
        seconds = time.perf_counter() - t0
        log = run.log(["loss"])
        for i, v in enumerate(history):
            log.write(i + 1, {"loss": v})
        log.close()
        run.save_checkpoint({"model": energy.state_dict(), "step": len(history), "train_seconds": seconds})
        run.save_weights(energy)
    energy.eval()
    measure(energy, data, cfg, run.path, seconds, steps=cfg.steps)
    return run.path


# What to try when the energy model diverges.
REMEDY = "try a lower --lr, a smaller --grad-clip, --spectral-norm, or the cd loss with a larger --l2"


def infer_samples(energy: EnergyModel, data: PointData, cfg: TrainConfig, n: int):
    """Gradient descent from uniform noise over the padded box, in the model's (standardised) units: the
    model's own samples, still in those units."""
    box = tuple(b.to(_device_of(energy)) for b in data.model_box)
    x0 = uniform_in(box, (n,))
    step_size = cfg.infer_step_size or (0.0035 if cfg.method == "contrastive" else 0.1)
    return descend(energy, x0, steps=cfg.infer_steps, step_size=step_size,
                   final_step_size=cfg.infer_final_step_size, schedule=cfg.infer_schedule,
                   max_move=cfg.infer_max_move, tol=cfg.infer_tol, box=box)


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


class InDataUnits(EnergyModel):
    """An energy trained on standardised points, taking points in the data's own units: F((x - shift) / scale)."""

    def __init__(self, energy: EnergyModel, data: PointData):
        super().__init__()
        self.energy, self.dim = energy, energy.dim
        self.register_buffer("shift", data.shift.clone())
        self.register_buffer("scale", data.scale.clone())

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.energy((x - self.shift) / self.scale, context)  # [B]


def measure(energy: EnergyModel, data: PointData, cfg: TrainConfig, run: Path, train_seconds: float, *,
            steps: int, best_step: int | None = None) -> dict:
    """Draw samples, measure them in the data's units (docs/protocol.md §2), and write samples.npy,
    metrics.json and landscape.png. `steps`: steps trained; `best_step`: the step of the model kept."""
    torch.manual_seed(cfg.seed + 1)  # inference draws its own noise: independent of where training stopped
    t0 = time.perf_counter()
    result = infer_samples(energy, data, cfg, cfg.n_samples)
    infer_seconds = time.perf_counter() - t0
    energy = energy.cpu()
    samples = data.to_data(result.samples.cpu())  # [n, D], data units
    np.save(run / "samples.npy", samples.numpy())
    reference = data.reference
    out = {"precision": metrics.precision(samples, reference), "coverage": metrics.coverage(samples, reference),
           **metrics.family_measures(samples, data.truth),
           "mmd": metrics.mmd(samples, data.test), "mmd_floor": metrics.mmd(data.train, data.test),
           "converged": float(result.converged.float().mean()), "infer_steps_mean": float(result.steps.float().mean()),
           "train_seconds": train_seconds, "infer_seconds": infer_seconds, "steps": steps,
           "best_step": best_step or steps, "zoom": data.zoom,
           "reference": "clean curve" if data.clean is not None else "test split"}
    if data.dim == 2:
        log_scale = float(torch.log(data.scale).sum())  # standardised NLL -> NLL in the data's units
        low, high = data.model_box
        nll = metrics.nll(energy, data.to_model(data.val), data.to_model(data.test), low, high)
        kde = metrics.kde_nll(*(data.to_model(x) for x in (data.train, data.val, data.test)))
        out.update({"nll": nll["nll"] + log_scale, "nll_uniform": nll["nll_uniform"] + log_scale,
                    "temperature": nll["temperature"], "nll_kde": kde["nll_kde"] + log_scale,
                    "kde_bandwidth": kde["kde_bandwidth"]})
        if data.truth is not None:
            out["nll_generator"] = float(-data.truth.log_density(data.test.double().numpy()).mean())
        plots.save_landscape(run / "landscape.png", InDataUnits(energy, data), data.low, data.high, data=data.train,
                             samples=samples, title=f"{data.name}: {metrics.headline(out)}")
    write_json(run / "metrics.json", out)
    return out


@dataclass
class EnergyRun:
    """A trained energy run, rebuilt from its folder. `energy` takes points in the data's units; `model` is the
    network itself, which works in standardised units (the same module when the run did not standardise)."""

    path: Path
    config: TrainConfig
    energy: EnergyModel
    model: EnergyModel
    data: PointData
    metrics: dict

    def sample(self, n: int = 2000) -> torch.Tensor:
        """New samples by the run's own inference settings, in the data's units: [n, D]."""
        return self.data.to_data(infer_samples(self.model, self.data, self.config, n).samples)


@loader("energy")
def load_energy_run(path: Path) -> EnergyRun:
    cfg = saved_config(path, TrainConfig, "energy")
    data = load_data(cfg.data, seed=cfg.seed, standardise=cfg.standardise)
    model = build_energy(cfg, data.dim)
    load_weights(path / "model.safetensors", model)
    model.eval()
    metrics_path = path / "metrics.json"
    energy = InDataUnits(model, data) if cfg.standardise else model
    return EnergyRun(path=path, config=cfg, energy=energy, model=model, data=data,
                     metrics=read_json(metrics_path) if metrics_path.exists() else {})
