"""The `ebmplan images train` run, top to bottom: data, energy, training with checkpoints, then samples from the
persistent buffer and from fresh noise (ebmplan's own `descend`), their scores, OOD AUROC, figures, metrics.json;
its printed summary; and `load_run` for its folders."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..common.files import load_weights, read_json
from ..common.monitor import progress
from ..common.runs import Run, loader, restore, resumed_config, saved_config, seed_everything
from ..energy.inference import descend
from ..energy.models import EnergyModel
from .classifier import cached_classifier
from .config import ImagesConfig
from .data import ImageData, animals, load_images, uniform_noise
from .figures import save_energy_histogram, save_samples
from .metrics import Scorer, auroc, frechet
from .models import image_energy
from .train import ImageTrainer, pixel_box

LOG_COLUMNS = ["loss", "energy_pos", "energy_neg", "seconds", "cpu_seconds"]  # metrics.csv
N_OOD = 1000  # animal silhouettes and noise images scored for the AUROC


def build_energy(cfg: ImagesConfig, shape: tuple[int, int]) -> EnergyModel:
    return image_energy(cfg.architecture, shape, width=cfg.width, depth=cfg.depth, activation=cfg.activation)


def fresh_samples(energy: EnergyModel, cfg: ImagesConfig, n: int, shape: tuple[int, int]) -> torch.Tensor:
    """`n` samples by ebmplan's inference: `sample_steps` Langevin steps (the training chains' step and noise)
    from uniform noise in the pixel box: [n, H, W]."""
    device = next(energy.parameters()).device
    box = pixel_box(shape[0] * shape[1], device)
    x0 = torch.rand(n, shape[0] * shape[1], device=device)
    out = descend(energy, x0, steps=cfg.sample_steps, step_size=cfg.langevin_step_size, noise=cfg.langevin_noise,
                  tol=0.0, box=box)
    return out.samples.reshape(n, *shape)


def run_images(cfg: ImagesConfig, *, command: str = "images train") -> Path:
    """Train per `cfg` (or continue `cfg.resume`), measure, and return the run folder."""
    cfg = resumed_config(cfg, "images")
    cfg.validate()
    data = load_images(cfg.data, seed=cfg.seed)  # a bad file stops here, before any folder is made
    run = Run.start(cfg, "images", command)
    device = run.device
    seed_everything(cfg.seed)
    energy = build_energy(cfg, data.shape).to(device)
    trainer = ImageTrainer(cfg, energy, data.train.to(device), checkpoint=run.checkpoint_path)
    state = run.load_checkpoint()
    seconds, cpu = 0.0, 0.0
    if state is not None:
        seconds, cpu = restore(trainer, state, run.checkpoint_path, ("train_seconds", "train_cpu_seconds"))
    log = run.log(LOG_COLUMNS, resume_step=None if state is None else trainer.step)
    t0, c0 = time.perf_counter() - seconds, time.process_time() - cpu  # process time = user + sys, all threads
    for _ in progress(range(trainer.step, cfg.steps), initial=trainer.step, total=cfg.steps, desc="train images"):
        row = trainer.step_once()
        step = trainer.step
        if step % cfg.log_every == 0 or step == cfg.steps:
            log.write(step, {**row, "seconds": f"{time.perf_counter() - t0:.3f}",
                             "cpu_seconds": f"{time.process_time() - c0:.3f}"})
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            run.save_checkpoint({**trainer.state_dict(), "train_seconds": time.perf_counter() - t0,
                                 "train_cpu_seconds": time.process_time() - c0})
    log.close()
    if state is None or state["step"] < cfg.steps:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    run.save_weights(energy)
    metrics = {"steps": trainer.step, "train_seconds": seconds, "train_cpu_seconds": cpu}
    metrics.update(evaluate(energy, trainer.buffer, data, cfg, run.path))
    run.write_metrics(metrics)
    return run.path


def evaluate(energy: EnergyModel, buffer: torch.Tensor, data: ImageData, cfg: ImagesConfig, path: Path) -> dict:
    """Scores of buffer and fresh-noise samples, OOD AUROC of the energy, and the two figures."""
    t0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(cfg.seed + 1)  # evaluation draws are independent of training's
    energy.eval()
    n, shape = len(data.test), data.shape
    device = buffer.device
    pick = torch.randperm(len(buffer), device=device)[: max(n, 64)]
    from_buffer = buffer[pick].reshape(-1, *shape).cpu()
    from_noise = fresh_samples(energy, cfg, max(n, 64), shape).cpu()
    out: dict = {}
    if data.train_labels is not None:
        classifier = cached_classifier(data, path, seed=cfg.seed, steps=cfg.classifier_steps)
        scorer = Scorer(classifier, data.train, data.test, data.test_labels, seed=cfg.seed)
        out.update(scorer.references())
        for name, samples in (("buffer", from_buffer), ("fresh", from_noise)):
            out.update({f"{name}_{k}": v for k, v in scorer.score(samples).items()})
    else:  # unlabelled images: no classifier to score with; the Fréchet distance is taken on raw pixels
        flat = data.test.reshape(n, -1)
        out.update({"pixel_frechet_floor_train_vs_test": frechet(data.train[:n].reshape(-1, flat.shape[1]), flat),
                    "buffer_pixel_frechet": frechet(from_buffer[:n].reshape(n, -1), flat),
                    "fresh_pixel_frechet": frechet(from_noise[:n].reshape(n, -1), flat)})
    with torch.no_grad():
        def e(x: torch.Tensor) -> torch.Tensor:
            return energy(x.reshape(len(x), -1).to(device)).cpu()  # [N]

        energies = {"test images": e(data.test), "animal silhouettes": e(animals(shape, N_OOD, seed=cfg.seed)),
                    "uniform noise": e(uniform_noise(shape, N_OOD, seed=cfg.seed))}
    out["auroc_animals"] = auroc(energies["test images"], energies["animal silhouettes"])
    out["auroc_noise"] = auroc(energies["test images"], energies["uniform noise"])
    out.update({f"energy_mean_{k.split()[0]}": float(v.mean()) for k, v in energies.items()})
    save_samples(path / "samples.png", {"held-out test images": data.test[:64],
                                        "persistent buffer": from_buffer,
                                        f"fresh noise, {cfg.sample_steps} Langevin steps": from_noise})
    save_energy_histogram(path / "energies.png", energies)
    out["eval_seconds"], out["eval_cpu_seconds"] = time.perf_counter() - t0, time.process_time() - c0
    return out


def summary(m: dict) -> str:
    """The headline figures of a run's metrics.json."""
    lines = [f"train {m['train_seconds']:.0f} s wall, {m['train_cpu_seconds']:.0f} s CPU (user+sys), "
             f"{m['steps']} steps"]
    if "frechet_floor_train_vs_test" in m:
        lines.append(f"classifier test accuracy {m['classifier_test_accuracy']:.3f}; Fréchet floor (train vs test) "
                     f"{m['frechet_floor_train_vs_test']:.2f}, Gaussian fit {m['frechet_gaussian_fit']:.2f}")
        for name in ("buffer", "fresh"):
            lines.append(f"{name:<7} Fréchet {m[f'{name}_frechet']:8.2f}  confident {m[f'{name}_confident_share']:.2f}"
                         f"  classes {m[f'{name}_classes_covered']}  smallest class {m[f'{name}_min_class_share']:.3f}")
    lines.append(f"OOD AUROC: animals {m['auroc_animals']:.3f}, noise {m['auroc_noise']:.3f}")
    return "\n".join(lines)


@dataclass
class ImagesRun:
    """An images run rebuilt from its folder: `run.sample(n)` draws fresh samples by the run's settings."""

    path: Path
    config: ImagesConfig
    energy: EnergyModel
    shape: tuple[int, int]
    metrics: dict

    def sample(self, n: int) -> torch.Tensor:
        return fresh_samples(self.energy, self.config, n, self.shape)  # [n, H, W]


@loader("images")
def load_images_run(path: Path) -> ImagesRun:
    cfg = saved_config(path, ImagesConfig, "images")
    shape = load_images(cfg.data, seed=cfg.seed).shape
    seed_everything(cfg.seed)
    energy = build_energy(cfg, shape)
    load_weights(path / "model.safetensors", energy)
    energy.eval()
    metrics_path = path / "metrics.json"
    return ImagesRun(path, cfg, energy, shape, read_json(metrics_path) if metrics_path.exists() else {})
