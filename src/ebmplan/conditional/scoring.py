"""Each model's answers at held-out x in both views, their scores, and the summary table."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from ..energy.latent import predict_latent
from ..energy.negatives import Box
from ..energy.predict import predict
from .config import ConditionalConfig
from .task import Pairs, branches_at

KINDS = ("conditional", "latent", "deterministic", "regressor")  # as in metrics.json
VIEWS = ("all_answers", "converged_answers")
VIEW_NOTES = {
    "all_answers": "every answer, converged or not, not de-duplicated (like-for-like with the regressor)",
    "converged_answers": "converged answers only, de-duplicated within 0.05 (the regressor: all its answers)",
}


def predictions(kind: str, model: nn.Module, x: torch.Tensor, box: Box,
                cfg: ConditionalConfig) -> dict[str, list[torch.Tensor]]:
    """Each held-out x's answers in both views (`VIEWS`): a list of [M_i] y values per view, and under
    `converged_fraction` (a float) the share of all answers whose descent converged."""
    descent = dict(steps=cfg.infer_steps, step_size=cfg.infer_step_size,
                   final_step_size=cfg.infer_final_step_size, max_move=cfg.infer_max_move)
    if kind == "regressor":
        with torch.no_grad():
            every = list(model(x).cpu())  # one [1] answer per x
        return {"all_answers": every, "converged_answers": every, "converged_fraction": 1.0}
    if kind == "latent":
        pred = predict_latent(model, x, box, samples=cfg.latent_samples, starts=cfg.latent_starts, **descent)
    else:
        pred = predict(model, x, box, starts=cfg.starts, **descent)
    rows = range(len(x))
    if kind == "deterministic":  # the single lowest-energy answer per x (among converged ones, in that view)
        best = pred.energy.argmin(1)  # [E]
        return {"all_answers": list(pred.samples[torch.arange(len(x)), best].cpu()),
                "converged_answers": [pred.answers(i)[:1, 0].cpu() for i in rows],
                "converged_fraction": pred.converged[torch.arange(len(x)), best].float().mean().item()}
    return {"all_answers": [pred.samples[i, :, 0].cpu() for i in rows],
            "converged_answers": [pred.answers(i)[:, 0].cpu() for i in rows],
            "converged_fraction": pred.converged.float().mean().item()}


def score(x: torch.Tensor, answers: list[torch.Tensor], curve: np.ndarray, radius: float) -> dict[str, float]:
    """Scores of the answers at held-out x [E, 1]: `precision`, the mean distance of every answer (x, y) to
    the curve; `mode_coverage`, the fraction of all (x, branch) pairs with an answer within `radius` in y;
    `modes_found`, the mean number of branches so reached per x (x with no branch are left out)."""
    xs = x[:, 0].cpu().numpy()
    points = np.concatenate([np.stack([np.full(len(a), xi), a.numpy()], 1)
                             for xi, a in zip(xs, answers, strict=True)])  # [P, 2]
    precision = float(cKDTree(curve).query(points)[0].mean())
    reached = total = 0
    found = []
    for branches, a in zip(branches_at(xs, curve), answers, strict=True):
        if len(branches) == 0:
            continue
        hit = (np.abs(branches[:, None] - a.numpy()[None, :]) <= radius).any(1)  # [n_branches]
        reached, total = reached + int(hit.sum()), total + len(branches)
        found.append(int(hit.sum()))
    return {"precision": precision, "mode_coverage": reached / max(total, 1),
            "modes_found": float(np.mean(found)) if found else 0.0,
            "branches_per_x": total / max(len(found), 1), "answers_per_x": len(points) / len(answers)}


def scores(pairs: Pairs, answers: dict, radius: float) -> dict:
    """One model's metrics.json entry: `score` of each view (`VIEWS`), the share of its answers that
    converged, and the converged view's scores again as flat keys (what the `ebmplan conditional` printout
    reads)."""
    views = {view: score(pairs.x_eval, answers[view], pairs.curve, radius) for view in VIEWS}
    return {**views["converged_answers"], **views, "converged_fraction": answers["converged_fraction"]}


def summary(metrics: dict) -> str:
    """A markdown table of a run's metrics.json: every model in both views, all answers first."""
    lines = ["| model | answers | precision | mode coverage | modes found / branches | answers per x |",
             "|---|---|---|---|---|---|"]
    for kind in KINDS:
        for view in VIEWS:
            r = metrics[kind][view]
            lines.append(f"| {kind} | {view.split('_')[0]} | {r['precision']:.4f} | {r['mode_coverage']:.3f} | "
                         f"{r['modes_found']:.2f} / {r['branches_per_x']:.2f} | {r['answers_per_x']:.1f} |")
    notes = metrics.get("views", VIEW_NOTES)
    lines += ["", f"all: {notes['all_answers']}.", f"converged: {notes['converged_answers']}."]
    return "\n".join(lines)
