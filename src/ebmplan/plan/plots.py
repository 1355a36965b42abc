"""Maze figures: walls, the learned distance beside the true one, and policy rollouts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .agent import DistanceAgent  # noqa: E402
from .maze import Maze  # noqa: E402


def draw_walls(ax, maze: Maze) -> None:
    """Walls in dark grey; x = column, y = row (row 0 at the top), one unit per cell."""
    ax.imshow(np.where(maze.walls, 1.0, np.nan), cmap="Greys", vmin=0, vmax=1.2,
              extent=(0, maze.width, maze.height, 0), interpolation="nearest")
    ax.set_xlim(0, maze.width)
    ax.set_ylim(maze.height, 0)
    ax.set_xticks([])
    ax.set_yticks([])


def save_distance_map(path: Path, agent: DistanceAgent, maze: Maze, goal: np.ndarray) -> None:
    """Learned distance from every free cell's centre to `goal`, beside the true shortest-path distance."""
    centres = maze.cells + 0.5
    goals = np.repeat(goal[None], len(centres), 0)
    learned = np.full(maze.walls.shape, np.nan)
    true = np.full(maze.walls.shape, np.nan)
    learned[maze.cells[:, 0], maze.cells[:, 1]] = agent.distance(centres, goals)
    true[maze.cells[:, 0], maze.cells[:, 1]] = maze.true_distance(centres, goals)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, values, title in ((axes[0], learned, f"learned distance (expected steps, max {agent.bins})"),
                              (axes[1], true, "true shortest-path distance (cells)")):
        im = ax.imshow(values, cmap="viridis", extent=(0, maze.width, maze.height, 0),
                       interpolation="nearest")
        draw_walls(ax, maze)
        ax.plot(goal[1], goal[0], "r*", markersize=14)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"{maze.name}: distance to the goal (red star)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_rollouts(path: Path, agent: DistanceAgent, maze: Maze, *, seed: int = 0, n: int = 8,
                  difficulty: float = 0.2, max_steps: int = 100) -> None:
    """Paths of the plain policy from `n` starts to goals at `difficulty` (circle = start, star = goal)."""
    from .train_agent import rollout

    rng = np.random.default_rng(seed + 7)
    starts, goals = maze.sample_pairs(rng, n, difficulty)
    reached, steps, paths = rollout(agent, maze, starts, goals, max_steps, seed + 7)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    draw_walls(ax, maze)
    colors = plt.cm.tab10(np.arange(n) % 10)
    for i in range(n):
        p = paths[: steps[i] + 1, i]
        ax.plot(p[:, 1], p[:, 0], "-", color=colors[i], linewidth=1.2)
        ax.plot(*starts[i, ::-1], "o", color=colors[i], markersize=6)
        ax.plot(*goals[i, ::-1], "*", color=colors[i], markersize=12, markeredgecolor="k")
    ax.set_title(f"{maze.name}: policy rollouts at difficulty {difficulty} ({int(reached.sum())}/{n} reached "
                 f"within {max_steps} steps)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
