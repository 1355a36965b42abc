"""The figures of a video run, drawn from frames already predicted: rollout.png (`save_strip`) and
single_frame.png (`save_modes`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .data import Videos  # noqa: E402


def save_strip(path: Path, test: Videos, preds: dict[str, torch.Tensor], video: int = 0) -> None:
    """One held-out video: the true frames over each model's rolled-out frames (preds: [N, horizon, P])."""
    S = test.size
    horizon = next(iter(preds.values())).shape[1]
    rows = {"true": test.frames[video, 2: 2 + horizon].reshape(horizon, S, S)}
    rows.update({name: p[video].reshape(horizon, S, S) for name, p in preds.items()})
    fig, axes = plt.subplots(len(rows), horizon, figsize=(1.1 * horizon, 1.2 * len(rows)), squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for t in range(horizon):
            ax = axes[r, t]
            ax.imshow(frames[t].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 0:
                ax.set_title(f"t+{t + 1}", fontsize=8)
    fig.suptitle(f"held-out video {video}: rollout from two true frames", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_modes(path: Path, context: torch.Tensor, candidates: torch.Tensor, preds: dict[str, torch.Tensor],
               rows: int = 4, shown: int = 4) -> None:
    """Per example: the frame (context [M, P]), every possible next frame overlaid (candidates [M, k, P]), then
    each model's predictions (preds [M, n, P])."""
    S = int(round(context.shape[-1] ** 0.5))
    pick = torch.linspace(0, len(context) - 1, rows).round().long()
    columns = [("frame t", lambda i: context[i])]
    columns.append(("possible t+1", lambda i: candidates[i].amax(0)))
    for name, p in preds.items():
        for j in range(min(shown, p.shape[1])):
            columns.append((f"{name} {j + 1}" if p.shape[1] > 1 else name, lambda i, p=p, j=j: p[i, j]))
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.0 * len(columns), 1.1 * rows), squeeze=False)
    for r, i in enumerate(pick.tolist()):
        for c, (title, frame) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(frame(i).reshape(S, S).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=7)
    fig.suptitle("next frame from one held-out frame (velocity unknown)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
