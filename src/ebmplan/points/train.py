"""One contrastive trainer for every energy: a config in, a run folder out.

Training sees standardised points (each column of the training split shifted to mean 0 and scaled to std 1), so
one recipe fits data of any scale; samples, NLL and figures are mapped back to the data's own units. Training
stops when the validation NLL has not improved for `patience` checks (at most `steps` steps) and keeps the
best model seen (docs/protocol.md §2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..common.files import load_weights, read_json, write_json
from ..common.monitor import progress
from ..common.runs import Run, loader, resumed_config, saved_config, seed_everything
from ..energy.architectural import KMeansEnergy, PCAEnergy, SparseAutoencoderEnergy
from ..energy.inference import descend
from ..energy.models import EnergyModel, MLPEnergy
from ..energy.negatives import uniform_in
from . import metrics, plots
from .contrastive_fit import REMEDY, ContrastiveFit
from .toy2d import PointData, load_data
from .train_config import TrainConfig

LOG_COLUMNS = ["loss", "energy_pos", "energy_neg", "energy_gap", "val_nll", "seconds"]  # metrics.csv


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
    fit = ContrastiveFit(cfg, data, energy, checkpoint=run.checkpoint_path)
    elapsed = 0.0
    if state is not None:
        fit.load_state_dict(state)
        elapsed = state["train_seconds"]
    start = fit.step

    def checkpoint(seconds: float) -> None:
        run.save_checkpoint({**fit.state_dict(), "train_seconds": seconds})
        run.save_weights(fit.kept())

    log = run.log(LOG_COLUMNS, resume_step=None if state is None else start)
    steps = start if fit.best.stopped else cfg.steps
    bar = progress(range(start, steps), initial=start, total=cfg.steps, desc=f"train {data.name}")
    t0 = time.perf_counter() - elapsed
    for _ in bar:
        if fit.train_step():
            row = fit.check()
            log.write(fit.step, {**row, "seconds": f"{time.perf_counter() - t0:.3f}"})
            bar.set_postfix(loss=f"{row['loss']:.4f}", gap=f"{row['energy_gap']:.3f}", val_nll=f"{row['val_nll']:.3f}")
        if fit.step % cfg.checkpoint_every == 0 or fit.finished:
            if not fit.energies_finite():
                run.diverged("energy model", fit.step, "energies after the update", REMEDY)
            checkpoint(time.perf_counter() - t0)
        if fit.best.stopped:
            break
    log.close()
    bar.close()
    train_seconds = time.perf_counter() - t0
    if start == steps:  # resumed a finished run: nothing trained, keep its recorded time
        train_seconds = elapsed
    measure(fit.kept(), data, cfg, run.path, train_seconds, steps=fit.best.last_step or start,
            best_step=fit.best.step)
    return run.path


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
