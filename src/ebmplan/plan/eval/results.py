"""The results of `plan eval`: one row per (agent seed, source, node budget, difficulty), `results.csv` written
group by group and read back on resume, and the tables and curves pooled over agent seeds (results.md, figures).
"""

from __future__ import annotations

import csv
import fcntl
from pathlib import Path

import numpy as np

from ...common.files import atomic_path
from ...common.stats import seed_bootstrap, wilson
from ..world.maze import Maze
from .protocol import Episodes, PlanEvalConfig


def group_rows(label: dict, ep: Episodes, reached: np.ndarray, steps: np.ndarray, maze: Maze,
               cfg: PlanEvalConfig, extra: dict) -> list[dict]:
    """The rows of one group (`label`: agent seed, source, nodes), one per difficulty, from its episodes' outcomes
    (`reached`, `steps` [B]) and the group's `extra` columns. The true map scores the path ratio only."""
    true = np.maximum(maze.true_distance(ep.starts, ep.goals), 1.0)
    out = []
    for k, d in enumerate(cfg.difficulties):
        m = ep.bucket == k
        hits = reached[m]
        low, high = wilson(int(hits.sum()), int(m.sum()))
        ratio = float((steps[m][hits] / true[m][hits]).mean()) if hits.any() else float("nan")
        out.append({**label, "difficulty": d, "episodes": int(m.sum()), "successes": int(hits.sum()),
                    "success": float(hits.mean()), "low": low, "high": high, "path_ratio": ratio, **extra})
    return out


FIELDS = ["agent_seed", "source", "nodes", "difficulty", "episodes", "successes", "success", "low", "high",
          "path_ratio", "wormhole_share", "edges_per_graph", "queries_per_episode", "plan_seconds_per_episode",
          "generate_seconds_per_episode", "graph_seconds_per_episode", "loop_seconds_per_episode",
          "in_walls_share", "fit_seconds", "dropped_edges_per_episode", "nodes_used_per_episode"]


def read_results(path: Path, per_group: int) -> dict[tuple, list[dict]]:
    """The complete groups of rows in a results.csv written so far: (agent seed, source, nodes) -> its
    `per_group` rows (one per difficulty), each cell read back to the value it was written from (int, float or
    text). A group cut short is left out."""
    if not path.is_file():
        return {}
    groups: dict[tuple, list[dict]] = {}
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            if None in raw or None in raw.values() or list(raw) != FIELDS:
                continue  # a row cut short by a crash
            row = {k: _value(v) for k, v in raw.items()}
            groups.setdefault((row["agent_seed"], row["source"], row["nodes"]), []).append(row)
    return {key: rows for key, rows in groups.items() if len(rows) == per_group}


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_results(path: Path, rows: list[dict]) -> None:
    """results.csv holding exactly `rows`, written atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def append_results(path: Path, rows: list[dict]) -> None:
    """Append one group's rows to results.csv in one locked write (worker processes share the file)."""
    with path.open("a", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            csv.DictWriter(f, FIELDS).writerows(rows)
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pooled(rows: list[dict], hard: float | None = None) -> dict[tuple, dict]:
    """Rows pooled over agent seeds (and over difficulties >= `hard` when given), keyed (source, nodes[, d])."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if hard is not None and r["difficulty"] < hard - 1e-9:
            continue
        key = (r["source"], r["nodes"]) if hard is not None else (r["source"], r["nodes"], r["difficulty"])
        p = out.setdefault(key, {"successes": 0, "episodes": 0, "seeds": {}, "ratio": [], "plan": [], "parts": [],
                                 "queries": [], "worm": [], "in_walls": [], "used": []})
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
        p["used"].append(r.get("nodes_used_per_episode", r["nodes"]))  # written before caps: the budget
    return out


def headline(rows: list[dict], hard: float = 0.7) -> dict[str, float]:
    """metrics.json of a plan eval: success at difficulty >= `hard`, pooled over agent seeds, per source and
    budget (`success_hard_policy`, `success_hard_ebm_50`, ...), and the mean planning time per episode of each."""
    out: dict[str, float] = {}
    for (source, nodes), p in pooled(rows, hard).items():
        name = source if source == "policy" else f"{source}_{nodes}"
        out[f"success_hard_{name}"] = p["successes"] / max(p["episodes"], 1)
        if source != "policy":
            out[f"plan_ms_per_episode_{name}"] = 1e3 * float(np.mean(p["plan"]))
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
             "| source | nodes | nodes used | success | 95% interval | per seed | episodes | path / shortest | "
             "wormhole edges | distance queries | planning ms | of which generate / graph / loop | "
             "generated in walls |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (src, n), p in pooled(rows, hard=0.7).items():
        low, high = interval(p)
        per_seed = ", ".join(f"{k / max(m, 1):.2f}" for k, m in p["seeds"].values())
        ratio = f"{np.mean(p['ratio']):.2f}" if p["ratio"] else "-"
        worm = np.nanmean(p["worm"]) if src != "policy" else float("nan")
        used = f"{np.mean(p['used']):.1f}" if src != "policy" else "-"
        lines.append(f"| {src} | {n or '-'} | {used} | {p['successes'] / max(p['episodes'], 1):.2f} | "
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


def difficulty_curves(rows: list[dict], difficulties) -> dict[str, dict[int, np.ndarray]]:
    """Success against difficulty, pooled over seeds: source -> node budget -> [3, D] (success, and the low and
    high end of its Wilson 95% interval at each difficulty); the plain policy is source "policy", budget 0."""
    table = pooled(rows)
    out: dict[str, dict[int, np.ndarray]] = {}
    for src, n in dict.fromkeys((r["source"], r["nodes"]) for r in rows):
        cells = [table[(src, n, d)] for d in difficulties]
        rate = [c["successes"] / max(c["episodes"], 1) for c in cells]
        low, high = zip(*(wilson(c["successes"], c["episodes"]) for c in cells), strict=True)
        out.setdefault(src, {})[n] = np.array([rate, low, high])
    return out


def budget_points(rows: list[dict], nodes, hard: float = 0.7) -> tuple[float, dict[str, np.ndarray]]:
    """Success at difficulty >= `hard` against the node budget, pooled over seeds -> (the plain policy's success,
    source -> [4, K]: the budgets it ran of `nodes`, its success at each, and the low and high end of the 95%
    interval that resamples agent seeds, then episodes)."""
    table = pooled(rows, hard=hard)
    policy = table[("policy", 0)]
    out = {}
    for src in dict.fromkeys(r["source"] for r in rows if r["source"] != "policy"):
        ns = [n for n in nodes if (src, n) in table]  # a source may have run at fewer budgets
        rate = [table[(src, n)]["successes"] / max(table[(src, n)]["episodes"], 1) for n in ns]
        low_high = np.array([interval(table[(src, n)]) for n in ns]).reshape(-1, 2)
        out[src] = np.array([ns, rate, low_high[:, 0], low_high[:, 1]], dtype=float).reshape(4, -1)
    return policy["successes"] / max(policy["episodes"], 1), out
