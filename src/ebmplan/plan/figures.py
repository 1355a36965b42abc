"""Every figure of plan/: the maze agent's distance map and policy paths (`maze train`), and `plan eval`'s success
curves and one planned episode per source. Each function draws the arrays it is given, computed by its caller,
so this module holds no logic of its own and imports none.

Mazes are drawn with x = column and y = row (row 0 at the top), one unit per cell.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def draw_walls(ax, walls: np.ndarray) -> None:
    """The walls [H, W] of a map in dark grey."""
    height, width = walls.shape
    ax.imshow(np.where(walls, 1.0, np.nan), cmap="Greys", vmin=0, vmax=1.2, extent=(0, width, height, 0),
              interpolation="nearest")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_xticks([])
    ax.set_yticks([])


# ----- maze train -----

def save_distance_map(path: Path, walls: np.ndarray, learned: np.ndarray, true: np.ndarray, goal: np.ndarray, *,
                      bins: int, name: str) -> None:
    """The learned distance to `goal` from every free cell [H, W] (nan in walls) beside the true one."""
    height, width = walls.shape
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, values, title in ((axes[0], learned, f"learned distance (expected steps, max {bins})"),
                              (axes[1], true, "true shortest-path distance (cells)")):
        im = ax.imshow(values, cmap="viridis", extent=(0, width, height, 0), interpolation="nearest")
        draw_walls(ax, walls)
        ax.plot(goal[1], goal[0], "r*", markersize=14)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"{name}: distance to the goal (red star)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_rollouts(path: Path, walls: np.ndarray, rollouts: dict, *, name: str) -> None:
    """Paths of the plain policy (circle = start, star = goal): `rollouts` holds starts, goals [n, 2], reached,
    steps [n], paths [T+1, n, 2], and the difficulty and step limit they were run at (policy.example_rollouts)."""
    starts, goals, steps, paths = rollouts["starts"], rollouts["goals"], rollouts["steps"], rollouts["paths"]
    n = len(starts)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    draw_walls(ax, walls)
    colors = plt.cm.tab10(np.arange(n) % 10)
    for i in range(n):
        p = paths[: steps[i] + 1, i]
        ax.plot(p[:, 1], p[:, 0], "-", color=colors[i], linewidth=1.2)
        ax.plot(*starts[i, ::-1], "o", color=colors[i], markersize=6)
        ax.plot(*goals[i, ::-1], "*", color=colors[i], markersize=12, markeredgecolor="k")
    ax.set_title(f"{name}: policy rollouts at difficulty {rollouts['difficulty']} "
                 f"({int(rollouts['reached'].sum())}/{n} reached within {rollouts['max_steps']} steps)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----- plan eval -----

def save_success_vs_difficulty(path: Path, difficulties: list[float], policy: np.ndarray,
                               curves: dict[str, dict[int, np.ndarray]]) -> None:
    """One panel per source: its success against difficulty at every node budget, over the plain policy's.
    A curve is [3, D]: success, low and high end of its 95% interval at each difficulty."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.4), squeeze=False)
    for ax, (src, budgets) in zip(axes[0], curves.items(), strict=True):
        ax.plot(difficulties, policy[0], "k--", label="policy")
        ax.fill_between(difficulties, policy[1], policy[2], color="k", alpha=0.08)
        for n, (rate, low, high) in budgets.items():
            ax.plot(difficulties, rate, "o-", markersize=3, label=f"{n} nodes")
            ax.fill_between(difficulties, low, high, alpha=0.12)
        ax.set_title(src)
        ax.set_xlabel("difficulty")
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("success")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_success_vs_nodes(path: Path, policy: float, points: dict[str, np.ndarray], title: str = "") -> None:
    """Success at d >= 0.7 against the node budget, beside the plain policy's: `points[source]` is [4, K], the
    budgets, success, and the low and high end of the 95% interval (resampling agent seeds, then episodes).
    Each source's points sit a little apart so that no curve hides another."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.axhline(policy, color="k", linestyle="--", label="policy (no planner)")
    for k, (src, (ns, rate, low, high)) in enumerate(points.items()):
        shift = 1.06 ** (k - (len(points) - 1) / 2)  # side by side on the log axis
        ax.errorbar(ns * shift, rate, yerr=[rate - low, high - rate], marker="o", markersize=4, capsize=3, label=src)
    ax.set_xscale("log")
    ax.set_xlabel("node budget")
    ax.set_ylabel("success at difficulty >= 0.7")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title}\n95% intervals: bootstrap over seeds, then episodes".lstrip("\n"), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_episode(path: Path, walls: np.ndarray, episode: dict, title: str) -> None:
    """One planned episode: the candidates (`in_walls` marks those the true map puts in walls, for the reader
    only), the graph's edges (`edges`: a pair of index arrays), the path taken, the start and the goal."""
    nodes, in_walls = episode["nodes"], episode["in_walls"]
    fig, ax = plt.subplots(figsize=(5.5, 6.1))
    draw_walls(ax, walls)
    i, j = episode["edges"]
    if len(i) > 4000:  # draw a sample of the edges of big graphs
        keep = np.random.default_rng(0).choice(len(i), 4000, replace=False)
        i, j = i[keep], j[keep]
    for a, c in zip(i, j, strict=True):
        ax.plot([nodes[a, 1], nodes[c, 1]], [nodes[a, 0], nodes[c, 0]], "-", color="tab:blue", alpha=0.15,
                linewidth=0.5)
    ax.plot([], [], "-", color="tab:blue", alpha=0.4, label="graph edge")
    ax.plot(nodes[~in_walls, 1], nodes[~in_walls, 0], ".", color="tab:blue", markersize=3, label="node")
    if in_walls.any():
        ax.plot(nodes[in_walls, 1], nodes[in_walls, 0], "x", color="tab:purple", markersize=4,
                label="node inside a wall")
    p = episode["path"]
    ax.plot(p[:, 1], p[:, 0], "-", color="tab:orange", linewidth=1.5, label="agent's path")
    ax.plot(*episode["start"][::-1], "o", color="tab:green", markersize=8, linestyle="", label="start")
    ax.plot(*episode["goal"][::-1], "*", color="tab:red", markersize=14, markeredgecolor="k", linestyle="",
            label="goal")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, frameon=False)  # below the
    fig.tight_layout()  # maze, where it hides no node, start or goal
    fig.savefig(path, dpi=110)
    plt.close(fig)
