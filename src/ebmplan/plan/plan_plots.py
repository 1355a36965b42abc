"""Figures of `plan eval`: success against difficulty, success against node budget, one maze per source."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import ConfigError  # noqa: E402
from ..stats import wilson  # noqa: E402
from .plots import draw_walls  # noqa: E402
from .results_table import interval, pooled  # noqa: E402


def save_figures(out: Path, rows: list[dict], cfg, drawings: dict) -> None:
    table = pooled(rows)
    sources = list(dict.fromkeys(r["source"] for r in rows if r["source"] != "policy"))
    if not sources:
        raise ConfigError("no source was evaluated")
    ds = list(cfg.difficulties)

    def curve(src, n):
        c = [table[(src, n, d)] for d in ds]
        rate = np.array([x["successes"] / max(x["episodes"], 1) for x in c])
        ci = np.array([wilson(x["successes"], x["episodes"]) for x in c])
        return rate, ci

    fig, axes = plt.subplots(1, len(sources), figsize=(3.6 * len(sources), 3.4), squeeze=False)
    floor, floor_ci = curve("policy", 0)
    for ax, src in zip(axes[0], sources, strict=True):
        ax.plot(ds, floor, "k--", label="policy")
        ax.fill_between(ds, floor_ci[:, 0], floor_ci[:, 1], color="k", alpha=0.08)
        for n in cfg.nodes:
            rate, ci = curve(src, n)
            ax.plot(ds, rate, "o-", markersize=3, label=f"{n} nodes")
            ax.fill_between(ds, ci[:, 0], ci[:, 1], alpha=0.12)
        ax.set_title(src)
        ax.set_xlabel("difficulty")
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("success")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "success_vs_difficulty.png", dpi=110)
    plt.close(fig)

    if max(ds) >= 0.7:  # the node-budget figure is about the hard buckets only
        seeds = sorted({r["agent_seed"] for r in rows})
        save_success_vs_nodes(out / "success_vs_nodes.png", pooled(rows, hard=0.7), sources, cfg.nodes,
                              title=f"{cfg.map or 'map'}, agent seeds {', '.join(map(str, seeds))}")
    for src, d in drawings.items():
        save_drawing(out / f"maze_{src}.png", src, d)


def save_success_vs_nodes(path: Path, hard: dict, sources: list[str], nodes, title: str = "") -> None:
    """Success at d >= 0.7 against the node budget, with 95% intervals that resample agent seeds, then episodes;
    each source's points sit a little apart so that no curve hides another."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    p = hard[("policy", 0)]
    ax.axhline(p["successes"] / max(p["episodes"], 1), color="k", linestyle="--", label="policy (no planner)")
    for k, src in enumerate(sources):
        ns = np.array([n for n in nodes if (src, n) in hard])  # a source may have run at fewer budgets
        rate = np.array([hard[(src, n)]["successes"] / max(hard[(src, n)]["episodes"], 1) for n in ns])
        ci = np.array([interval(hard[(src, n)]) for n in ns]).reshape(-1, 2)
        shift = 1.06 ** (k - (len(sources) - 1) / 2)  # side by side on the log axis
        ax.errorbar(ns * shift, rate, yerr=[rate - ci[:, 0], ci[:, 1] - rate], marker="o", markersize=4,
                    capsize=3, label=src)
    ax.set_xscale("log")
    ax.set_xlabel("node budget")
    ax.set_ylabel("success at difficulty >= 0.7")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title}\n95% intervals: bootstrap over seeds, then episodes".lstrip("\n"), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_drawing(path: Path, src: str, d: dict) -> None:
    """One episode: the candidates (those the true map puts in walls marked apart, for the reader only), the
    graph's edges, the path taken, the start and the goal."""
    maze, nodes = d["maze"], d["nodes"]
    in_walls = maze.blocked(nodes)
    fig, ax = plt.subplots(figsize=(5.5, 6.1))
    draw_walls(ax, maze)
    i, j = d["graph"].nonzero()
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
    p = d["path"]
    ax.plot(p[:, 1], p[:, 0], "-", color="tab:orange", linewidth=1.5, label="agent's path")
    ax.plot(*d["start"][::-1], "o", color="tab:green", markersize=8, linestyle="", label="start")
    ax.plot(*d["goal"][::-1], "*", color="tab:red", markersize=14, markeredgecolor="k", linestyle="", label="goal")
    ax.set_title(f"{src}, {d['budget']} nodes: {'reached' if d['reached'] else 'failed'} in {d['steps']} steps "
                 f"({int(in_walls.sum())} nodes in walls)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, frameon=False)  # below the
    fig.tight_layout()  # maze, where it hides no node, start or goal
    fig.savefig(path, dpi=110)
    plt.close(fig)
