"""Figures of `plan eval`: success against difficulty, success against node budget, one maze per source."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import ConfigError  # noqa: E402
from .plots import draw_walls  # noqa: E402
from .train_agent import wilson  # noqa: E402


def save_figures(out: Path, rows: list[dict], cfg, drawings: dict) -> None:
    from .evaluate import pooled

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
        save_success_vs_nodes(out / "success_vs_nodes.png", pooled(rows, hard=0.7), sources, cfg.nodes)
    for src, d in drawings.items():
        save_drawing(out / f"maze_{src}.png", src, d)


def save_success_vs_nodes(path: Path, hard: dict, sources: list[str], nodes) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.6))
    p = hard[("policy", 0)]
    ax.axhline(p["successes"] / max(p["episodes"], 1), color="k", linestyle="--", label="policy")
    for src in sources:
        ns = [n for n in nodes if (src, n) in hard]  # a source may have run at fewer budgets
        rate = [hard[(src, n)]["successes"] / max(hard[(src, n)]["episodes"], 1) for n in ns]
        ci = np.array([wilson(hard[(src, n)]["successes"], hard[(src, n)]["episodes"]) for n in ns])
        ax.errorbar(ns, rate, yerr=[np.array(rate) - ci[:, 0], ci[:, 1] - np.array(rate)], marker="o",
                    capsize=3, label=src)
    ax.set_xscale("log")
    ax.set_xlabel("node budget")
    ax.set_ylabel("success at difficulty >= 0.7")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_drawing(path: Path, src: str, d: dict) -> None:
    """One episode of the hardest bucket: candidates (dropped ones as red x), graph edges, the path taken."""
    plan, ep, maze = d["plan"], d["ep"], d["maze"]
    b = int(np.flatnonzero(ep.bucket == ep.bucket.max())[0])
    nodes, valid = plan.nodes[b], plan.valid[b]
    graph = plan.graphs if not isinstance(plan.graphs, list) else plan.graphs[b]
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    draw_walls(ax, maze)
    i, j = graph.nonzero()
    if len(i) > 4000:  # draw a sample of the edges of big graphs
        keep = np.random.default_rng(0).choice(len(i), 4000, replace=False)
        i, j = i[keep], j[keep]
    for a, c in zip(i, j, strict=True):
        ax.plot([nodes[a, 1], nodes[c, 1]], [nodes[a, 0], nodes[c, 0]], "-", color="tab:blue", alpha=0.15,
                linewidth=0.5)
    ax.plot(nodes[valid, 1], nodes[valid, 0], ".", color="tab:blue", markersize=3)
    ax.plot(nodes[~valid, 1], nodes[~valid, 0], "x", color="tab:red", markersize=4)
    steps = int(d["steps"][b])
    p = d["paths"][: steps + 1, b]
    ax.plot(p[:, 1], p[:, 0], "-", color="tab:orange", linewidth=1.5)
    ax.plot(*ep.starts[b, ::-1], "o", color="tab:green", markersize=8)
    ax.plot(*ep.goals[b, ::-1], "*", color="tab:red", markersize=14, markeredgecolor="k")
    ok = steps < len(d["paths"]) - 1 or np.linalg.norm(p[-1] - ep.goals[b]) < 1
    ax.set_title(f"{src}, {d['nodes']} nodes: {'reached' if ok else 'failed'} in {steps} steps "
                 f"({int((~valid).sum())} dropped in walls)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
