"""Merge the results of several `ebmplan plan eval` runs on the same agents and episodes into one table.

    python benchmarks/plan_table.py runs/table-shared runs/table-gen [--figure success_vs_nodes.png] \
        [--mazes mazes.png]

Useful when the sources ran as separate commands (e.g. the generators at smaller node budgets, which cost more
per episode). The runs must share agents, episodes (`--seed`, `--episodes`, difficulties) and the planner's
settings; the plain-policy rows must then agree, and are kept once. Prints results.md's two tables and, with
`--figure`, draws success at difficulty >= 0.7 against the node budget for every source.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ebmplan.plan.eval.protocol import PlanEvalConfig
from ebmplan.plan.eval.results import FIELDS, budget_points, results_markdown
from ebmplan.plan.figures import save_success_vs_nodes

SHARED = ("agent", "seeds", "episodes", "difficulties", "max_steps", "max_dist", "seed", "wormhole_factor")


def read_rows(run: Path) -> list[dict]:
    rows = []
    for r in csv.DictReader((run / "results.csv").open()):
        row = {k: r[k] if k == "source" else float(r[k]) for k in FIELDS if k in r}  # runs before a column
        for k in ("agent_seed", "nodes", "episodes", "successes"):
            row[k] = int(row[k])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of `ebmplan plan eval`")
    parser.add_argument("--figure", type=Path, help="also draw success at d >= 0.7 against the node budget here")
    parser.add_argument("--mazes", type=Path, help="also put the runs' maze drawings (maze_*.png, the same "
                                                   "episode in every run) side by side in this file")
    args = parser.parse_args()
    configs = [json.loads((run / "config.json").read_text())["config"] for run in args.runs]
    for run, c in zip(args.runs[1:], configs[1:], strict=True):
        differ = [k for k in SHARED if c.get(k) != configs[0].get(k)]
        if differ:
            raise SystemExit(f"{run} differs from {args.runs[0]} in {', '.join(differ)}: not the same protocol")
    rows: dict[tuple, dict] = {}
    for run in args.runs:
        for r in read_rows(run):
            key = (r["source"], r["nodes"], r["agent_seed"], r["difficulty"])
            if key in rows:
                if r["source"] != "policy":
                    raise SystemExit(f"{run}: {r['source']} at {r['nodes']} nodes is also in an earlier run")
                if rows[key]["successes"] != r["successes"]:
                    raise SystemExit(f"{run}: the plain policy differs from the first run: not the same episodes")
                continue
            rows[key] = r
    order = {s: i for i, s in enumerate(dict.fromkeys(key[0] for key in rows))}  # sources as they first came
    rows = sorted(rows.values(), key=lambda r: (order[r["source"]], r["nodes"], r["agent_seed"], r["difficulty"]))
    # what the tables print of the protocol (the runs share it)
    cfg = PlanEvalConfig(**{k: configs[0][k] for k in (*SHARED, "map") if k in configs[0]})
    seeds = ", ".join(str(s) for s in sorted({r["agent_seed"] for r in rows}))
    print(results_markdown(rows, cfg, f"Planning, agent seeds {seeds} (runs: {', '.join(map(str, args.runs))})"))
    if args.figure:
        budgets = sorted({r["nodes"] for r in rows if r["source"] != "policy"})
        save_success_vs_nodes(args.figure, *budget_points(rows, budgets),
                              title=f"{cfg.map or 'map'}, agent seeds {seeds}")
    if args.mazes:
        save_side_by_side(args.mazes, [p for run in args.runs for p in sorted(run.glob("maze_*.png"))])


def save_side_by_side(path: Path, images: list[Path]) -> None:
    """The drawings in one row, at their own resolution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pictures = [plt.imread(p) for p in images]
    height = max(p.shape[0] for p in pictures)
    fig, axes = plt.subplots(1, len(pictures), figsize=(sum(p.shape[1] for p in pictures) / 100, height / 100),
                             squeeze=False)
    for ax, picture in zip(axes[0], pictures, strict=True):
        ax.imshow(picture)
        ax.axis("off")
    fig.subplots_adjust(0, 0, 1, 1, 0.01, 0)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
