"""One gradient step, shared by every trainer: backward, clipping, the optimiser's update, and the checks that
stop a diverging model with `Divergence` (exit code 1) instead of training on, or reporting, `nan`.

Each recipe keeps its own loop in view and computes its own loss (contrastive or not); this is what every loop
does with that loss:

    update = GradientStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), what="energy model")
    for step in range(1, steps + 1):
        ...
        update(loss, step, e)  # e: the energies the loss was made of, checked too
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..common.errors import REMEDY, diverged


class GradientStep:
    """`update(loss, step, *checked)` for one model (or several modules updated together):

    1. the loss and every tensor in `checked` (e.g. the energies it was made of) must be finite;
    2. zero the gradients, backward;
    3. clip the global gradient norm to `grad_clip` (0 = off) and require the norm to be finite;
    4. the optimiser's step; then every weight must be finite (an absurd learning rate shows up here first).

    A failed check raises `Divergence` naming `what`, the step, the part, and `remedy`; `checkpoint`, when given,
    is where the run keeps its last good state (the message says whether it exists).
    """

    def __init__(self, model: nn.Module | list[nn.Module], optimizer: torch.optim.Optimizer, *, what: str,
                 grad_clip: float = 0.0, remedy: str = REMEDY, checkpoint: Path | None = None):
        modules = model if isinstance(model, list) else [model]
        self.params = [p for m in modules for p in m.parameters()]
        self.optimizer, self.what, self.remedy, self.checkpoint = optimizer, what, remedy, checkpoint
        self.grad_clip = grad_clip or math.inf

    def __call__(self, loss: torch.Tensor, step: int, *checked: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            self.diverged(step, "loss")
        if not all(torch.isfinite(t).all() for t in checked):
            self.diverged(step, "energies")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if not torch.isfinite(nn.utils.clip_grad_norm_(self.params, self.grad_clip)):
            self.diverged(step, "gradient")
        self.optimizer.step()
        if not self.weights_finite():
            self.diverged(step, "weights")

    def weights_finite(self) -> bool:
        """Whether every weight is finite (one reduction, one synchronisation)."""
        with torch.no_grad():
            return bool(torch.isfinite(torch.stack([p.sum() for p in self.params])).all())

    def diverged(self, step: int, part: str) -> None:
        diverged(self.what, step, part, checkpoint=self.checkpoint, remedy=self.remedy)
