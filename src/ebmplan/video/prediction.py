"""Next frames from trained models, and their errors on held-out videos.

A predictor maps context frames [B, kP] to next frames [B, P]: the energy's by gradient descent from uniform
noise, the regressor's by one forward pass. Errors are the pixel MSE and the ball-position error (distance in
pixels between the intensity centres of mass of the predicted and the true frame), one step ahead (`one_step`)
and over a rollout that feeds predictions back as context (`rollout`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..energy.frames import FrameRegressor
from ..energy.inference import descend
from ..energy.models import EnergyModel
from .config import VideoConfig
from .data import Videos, centre_of_mass, examples

Predictor = Callable[[torch.Tensor], torch.Tensor]  # context [B, kP] -> next frames [B, P]


def energy_predictor(energy: EnergyModel, cfg: VideoConfig) -> Predictor:
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


def regressor_predictor(model: FrameRegressor) -> Predictor:
    device = next(model.parameters()).device

    @torch.no_grad()
    def predict(context: torch.Tensor) -> torch.Tensor:
        return model(context.to(device)).clamp(0, 1).to(context.device)

    return predict


def errors(pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame pixel MSE [B] and ball-position error in pixels [B] (centres of mass)."""
    return (pred - true).pow(2).mean(1), (centre_of_mass(pred) - centre_of_mass(true)).norm(dim=1)


def one_step(predict: Predictor, test: Videos, n: int) -> dict:
    """Held-out one-step errors on `n` examples spread evenly over the test examples."""
    context, target, _ = examples(test)
    pick = torch.linspace(0, len(target) - 1, min(n, len(target))).round().long()
    mse, pos = errors(predict(context[pick]), target[pick])
    return {"mse": mse.mean().item(), "position_error": pos.mean().item(),
            "position_error_median": pos.median().item()}


def rollout(predict: Predictor, test: Videos, horizon: int) -> tuple[torch.Tensor, dict]:
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
