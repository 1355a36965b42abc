"""`run_conditional`: train the three models, score them on held-out x, write the run folder; and
`ConditionalRun` / `load_conditional_run` for `load_run`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..common.errors import choose
from ..common.files import load_weights, read_json
from ..common.runs import Run, loader, saved_config, seed_everything
from ..energy.negatives import Box
from .config import ConditionalConfig
from .figures import save_figure
from .scoring import KINDS, VIEW_NOTES, VIEWS, predictions, scores, summary
from .task import Pairs, spiral_pairs
from .training import build_models, train_model


def run_conditional(cfg: ConditionalConfig, *, command: str = "conditional") -> Path:
    """Train the three models (or, with `cfg.resume`, those the run had not finished), score them on held-out
    x, and write the run folder."""
    run = Run.start(cfg, "conditional", command)
    cfg, device = run.config, run.device
    finished = run.finished_models()
    log = run.log(["loss", "seconds"], models=True, keep_models=set(finished.models) if run.resumed else None)
    pairs = spiral_pairs(cfg.seed, cfg.n_eval)
    pairs = Pairs(x=pairs.x.to(device), y=pairs.y.to(device), x_eval=pairs.x_eval.to(device),
                  box=(pairs.box[0].to(device), pairs.box[1].to(device)), curve=pairs.curve)
    seed_everything(cfg.seed)
    models = build_models(cfg)
    results: dict[str, dict] = {}
    answers: dict[str, dict] = {}
    for kind, model in models.items():
        model.to(device)
        if kind in finished:
            record = finished.load(kind, model)
        else:
            t0 = time.perf_counter()
            history = train_model(model, pairs, cfg, kind, log)
            record = {"train_seconds": time.perf_counter() - t0, "final_loss": history[-1]}
            finished.save(kind, model, record)
        run.save_weights(model, kind)
        model.eval()
        # Inference noise independent of training length; it also makes the next model's training start from
        # the same random state whether this one was trained now or loaded by a resumed run.
        torch.manual_seed(cfg.seed + 1)
        t0 = time.perf_counter()
        answers[kind] = predictions(kind, model, pairs.x_eval, pairs.box, cfg)
        results[kind] = {**scores(pairs, answers[kind], cfg.reach),
                         "train_seconds": record["train_seconds"], "predict_seconds": time.perf_counter() - t0,
                         "final_loss": record["final_loss"],
                         "parameters": sum(p.numel() for p in model.parameters())}
    log.close()
    torch.manual_seed(cfg.seed + 1)
    answers["deterministic"] = predictions("deterministic", models["conditional"], pairs.x_eval, pairs.box,
                                           cfg)
    results["deterministic"] = scores(pairs, answers["deterministic"], cfg.reach)
    metrics = {**results, "views": VIEW_NOTES, "held_out_x": len(pairs.x_eval), "radius": cfg.reach}
    run.write_metrics(metrics)
    (run.path / "summary.md").write_text(summary(metrics) + "\n")
    save_figure(run.path / "predictions.png", models["conditional"], pairs, answers, results)
    return run.path


@dataclass
class ConditionalRun:
    """A `conditional` run rebuilt from its folder: `run.predict(x)` answers at x [E, 1]."""

    path: Path
    config: ConditionalConfig
    models: dict[str, nn.Module]  # conditional F(y | x), latent F(y | x, z), regressor x -> y
    box: Box  # the padded y range that prediction searches
    metrics: dict

    def predict(self, x: torch.Tensor, kind: str = "conditional",
                view: str = "converged_answers") -> list[torch.Tensor]:
        """Each x's answers, a list of [M_i] y values, by `kind` (conditional, latent, deterministic or
        regressor) and `view` (all_answers or converged_answers), as in metrics.json."""
        choose("model", kind, KINDS)
        choose("view", view, VIEWS)
        model = self.models["conditional" if kind == "deterministic" else kind]
        return predictions(kind, model, x, self.box, self.config)[view]


@loader("conditional")
def load_conditional_run(path: Path) -> ConditionalRun:
    cfg = saved_config(path, ConditionalConfig, "conditional")
    models = build_models(cfg)
    for kind, model in models.items():
        load_weights(path / f"{kind}.safetensors", model)
        model.eval()
    metrics_path = path / "metrics.json"
    return ConditionalRun(path=path, config=cfg, models=models, box=spiral_pairs(cfg.seed, cfg.n_eval).box,
                          metrics=read_json(metrics_path) if metrics_path.exists() else {})
