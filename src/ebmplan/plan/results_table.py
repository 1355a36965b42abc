"""The tables of `plan eval`: rows of results.csv pooled over agent seeds, their intervals, results.md."""

from __future__ import annotations

import numpy as np

from ..stats import seed_bootstrap


def pooled(rows: list[dict], hard: float | None = None) -> dict[tuple, dict]:
    """Rows pooled over agent seeds (and over difficulties >= `hard` when given), keyed (source, nodes[, d])."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if hard is not None and r["difficulty"] < hard - 1e-9:
            continue
        key = (r["source"], r["nodes"]) if hard is not None else (r["source"], r["nodes"], r["difficulty"])
        p = out.setdefault(key, {"successes": 0, "episodes": 0, "seeds": {}, "ratio": [], "plan": [], "parts": [],
                                 "queries": [], "worm": [], "in_walls": []})
        p["successes"] += r["successes"]
        p["episodes"] += r["episodes"]
        counts = p["seeds"].setdefault(r["agent_seed"], [0, 0])  # this seed's successes and episodes
        counts[0] += r["successes"]
        counts[1] += r["episodes"]
        p["ratio"] += [r["path_ratio"]] * r["successes"] if r["successes"] else []
        p["plan"].append(r["plan_seconds_per_episode"])
        p["parts"].append([r[f"{part}_seconds_per_episode"] for part in ("generate", "graph", "loop")])
        p["queries"].append(r["queries_per_episode"])
        p["worm"].append(r["wormhole_share"])
        p["in_walls"].append(r["in_walls_share"])
    return out


def interval(p: dict) -> tuple[float, float]:
    """The 95% interval of a pooled cell: bootstrap over its agent seeds, then their episodes."""
    return seed_bootstrap([tuple(c) for c in p["seeds"].values()])


def results_markdown(rows: list[dict], cfg, title: str) -> str:
    """The two tables of results.md: success at d >= 0.7 with the cost per episode, and success per difficulty;
    rows of every source and budget, pooled over the agent seeds. `cfg`: the run's PlanEvalConfig."""
    lines = [f"## {title}", "",
             f"{cfg.episodes} episodes per difficulty bucket per seed (the same episodes under every seed), success "
             f"within {cfg.max_steps} steps and 1 cell; max_dist {cfg.max_dist:g}. 95% interval: bootstrap over "
             "the agent seeds, then each seed's episodes (the seeds share their episodes, so these are not "
             "independent trials). By the true map, for scoring only: difficulty, success, path / shortest, "
             f"wormhole edges (true distance > {cfg.wormhole_factor * cfg.max_dist:g}), generated states in walls.",
             "", "### Success at difficulty >= 0.7 (pooled over seeds) and cost per episode", "",
             "| source | nodes | success | 95% interval | per seed | episodes | path / shortest | wormhole edges | "
             "distance queries | planning ms | of which generate / graph / loop | generated in walls |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (src, n), p in pooled(rows, hard=0.7).items():
        low, high = interval(p)
        per_seed = ", ".join(f"{k / max(m, 1):.2f}" for k, m in p["seeds"].values())
        ratio = f"{np.mean(p['ratio']):.2f}" if p["ratio"] else "-"
        worm = np.nanmean(p["worm"]) if src != "policy" else float("nan")
        lines.append(f"| {src} | {n or '-'} | {p['successes'] / max(p['episodes'], 1):.2f} | "
                     f"[{low:.2f}, {high:.2f}] | {per_seed} | {p['episodes']} | {ratio} | "
                     f"{'-' if np.isnan(worm) else f'{worm:.3f}'} | {np.mean(p['queries']):.0f} | "
                     f"{np.mean(p['plan']) * 1e3:.1f} | "
                     f"{' / '.join(f'{x * 1e3:.1f}' for x in np.mean(p['parts'], 0))} | "
                     f"{np.mean(p['in_walls']):.1%} |")
    lines += ["", "### Success per difficulty (pooled over seeds)", "",
              "| source | nodes | " + " | ".join(f"{d:g}" for d in cfg.difficulties) + " |",
              "|---|---|" + "---|" * len(cfg.difficulties)]
    table = pooled(rows)
    for key in dict.fromkeys((r["source"], r["nodes"]) for r in rows):
        cells = [table[(*key, d)] for d in cfg.difficulties]
        lines.append(f"| {key[0]} | {key[1] or '-'} | " + " | ".join(
            f"{c['successes'] / max(c['episodes'], 1):.2f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"
