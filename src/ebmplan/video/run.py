"""The `ebmplan video` run, top to bottom: train the energy and the regressor, measure them on held-out videos,
run the negatives ablation and the single-frame study; its printed summary; and `load_run` for its folders."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..common.errors import choose
from ..common.files import load_weights, read_json
from ..common.runs import FinishedModels, Run, loader, saved_config, seed_everything
from ..energy.frame_negatives import renamed
from ..energy.frames import FrameRegressor
from .config import VideoConfig
from .figures import save_strip
from .prediction import energy_predictor, one_step, regressor_predictor, rollout
from .single_frame import single_frame
from .training import (
    frame_energy,
    frame_regressor,
    latent_frame_energy,
    log_name,
    make_data,
    train_energy,
    train_regressor,
    trained,
)


def run_video(cfg: VideoConfig, *, command: str = "video") -> Path:
    """Train both models (or, with `cfg.resume`, those the run had not finished), measure them on held-out
    videos, run the ablation, and write the run folder."""
    run = Run.start(cfg, "video", command)
    cfg, device, kept = run.config, run.device, run.checkpoint_path
    finished = run.finished_models()
    # metrics.csv: `model,step,loss,seconds` rows of every model trained (an ablation arm's model is named
    # `ablation <its negatives>`, with '+' for ',')
    log = run.log(["loss", "seconds"], models=True,
                  keep_models={log_name(n) for n in finished.models} if run.resumed else None)
    arms_by_current_names(finished)
    seed_everything(cfg.seed)
    data = make_data(cfg)

    energy, e_train = trained(finished, "energy", lambda: frame_energy(cfg),
                              lambda: train_energy(cfg, data.train, cfg.negatives, steps=cfg.steps, seed=cfg.seed,
                                                   device=device, log=log, checkpoint=kept), device)
    regressor, r_train = trained(finished, "regressor", lambda: frame_regressor(cfg),
                                 lambda: train_regressor(cfg, data.train, seed=cfg.seed, device=device, log=log,
                                                         checkpoint=kept), device)
    run.save_weights(energy, "energy")
    run.save_weights(regressor, "regressor")

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
    save_strip(run.path / "rollout.png", data.test, preds)

    out["ablation"] = {}
    for spec in cfg.ablation:
        name = f"ablation {spec}"
        arm, info = trained(finished, name, lambda: frame_energy(cfg),
                            lambda spec=spec, name=name: train_energy(
                                cfg, data.train, spec, seconds=cfg.ablation_seconds, seed=cfg.seed, device=device,
                                log=log, name=log_name(name), checkpoint=kept), device)
        torch.manual_seed(cfg.seed + 1)
        out["ablation"][spec] = {"one_step": one_step(energy_predictor(arm, cfg), data.test, cfg.n_eval),
                                 "train": info}
    if cfg.single_frame:
        out["single_frame"] = single_frame(cfg, run, finished, log)
    log.close()
    out["held_out"] = {"videos": cfg.n_test, "rollout_videos": cfg.n_test,
                       "one_step_examples": min(cfg.n_eval, cfg.n_test * (cfg.length - 2))}
    run.write_metrics(out)
    return run.path


def arms_by_current_names(finished: FinishedModels) -> None:
    """Ablation arms that an older ebmplan finished under old frame negative names (`hard`, `model`) are found
    under today's names (their metrics.csv rows keep the names they were trained under)."""
    for name in list(finished.models):
        current = "ablation " + renamed(name.removeprefix("ablation "))
        if name.startswith("ablation ") and current != name:
            finished.models[current] = finished.models.pop(name)
            finished.records[current] = finished.records.pop(name)


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
    cfg = saved_config(path, VideoConfig, "video")
    models: dict[str, nn.Module] = {"energy": frame_energy(cfg), "regressor": frame_regressor(cfg)}
    if cfg.single_frame:
        models.update(single_frame_energy=frame_energy(cfg, 1), single_frame_regressor=frame_regressor(cfg, 1),
                      single_frame_latent=latent_frame_energy(cfg))
    for name, model in models.items():
        load_weights(path / f"{name}.safetensors", model)
        model.eval()
    metrics_path = path / "metrics.json"
    return VideoRun(path=path, config=cfg, models=models,
                    metrics=read_json(metrics_path) if metrics_path.exists() else {})
