"""The single-frame study: the next frame from ONE frame, where the velocity cannot be seen.

Every ball moves at one speed along one of a few directions, so several next frames are correct. The MSE
regressor gives one answer (their blur), the contrastive energy one answer per noise start, and the
latent-variable energy one answer per sampled code; `modes` scores how many of the possible next frames each
model's answers reach.
"""

from __future__ import annotations

import torch

from ..common.monitor import ScalarLog
from ..common.runs import FinishedModels, Run
from .config import VideoConfig
from .data import centre_of_mass, examples, load_videos, next_positions, render
from .figures import save_modes
from .prediction import energy_predictor, regressor_predictor
from .training import (
    frame_energy,
    frame_regressor,
    latent_frame_energy,
    train_energy,
    train_latent,
    train_regressor,
    trained,
)


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


def single_frame(cfg: VideoConfig, run: Run, finished: FinishedModels, log: ScalarLog | None = None) -> dict:
    """Train the three single-frame models (or load those `finished` holds), score them on held-out videos,
    save their weights and single_frame.png in the run folder; return their metrics."""
    data = load_videos(n_train=cfg.n_train, n_test=cfg.n_test, length=cfg.length, size=cfg.size, n_balls=1,
                       radius=cfg.radius, speed=(cfg.single_speed, cfg.single_speed),
                       directions=cfg.single_directions, seed=cfg.seed)
    device, kept = run.device, run.checkpoint_path
    regressor, r_info = trained(finished, "single_frame_regressor", lambda: frame_regressor(cfg, 1),
                                lambda: train_regressor(cfg, data.train, seed=cfg.seed, context_frames=1,
                                                        device=device, log=log, name="single_frame_regressor",
                                                        checkpoint=kept), device)
    energy, e_info = trained(finished, "single_frame_energy", lambda: frame_energy(cfg, 1),
                             lambda: train_energy(cfg, data.train, cfg.negatives, steps=cfg.steps, seed=cfg.seed,
                                                  context_frames=1, device=device, log=log,
                                                  name="single_frame_energy", checkpoint=kept), device)
    latent, l_info = trained(finished, "single_frame_latent", lambda: latent_frame_energy(cfg),
                             lambda: train_latent(cfg, data.train, seed=cfg.seed, device=device, log=log,
                                                  name="single_frame_latent", checkpoint=kept), device)
    run.save_weights(energy, "single_frame_energy")
    run.save_weights(latent, "single_frame_latent")
    run.save_weights(regressor, "single_frame_regressor")

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
    save_modes(run.path / "single_frame.png", context, candidates, preds)
    return out
