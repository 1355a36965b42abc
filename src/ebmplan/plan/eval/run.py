"""`ebmplan plan eval`: every candidate source and node budget on the same agents, under docs/protocol.md §3
(the settings and episodes: protocol.py; the planner: planner.py; the rows and tables: results.py).

Each row of `results.csv` is one (agent seed, source, node budget, difficulty): successes with a Wilson 95%
interval; mean path length / true shortest path over successes; the share of "wormhole" graph edges (predicted
under the cutoff while the true distance exceeds `wormhole_factor * max_dist`); distance queries and planning
wall-clock per episode (candidate generation + graph + every step's waypoint choice, each also apart; the
source's one-off training is reported apart, as `fit_seconds`); the share of generated candidates that lie
inside walls. The planner never sees the true map: the true distances and walls score the results (difficulty,
success, path ratio, wormholes, states in walls) after the clocks stop.

Each agent run's plain policy and each of its sources is one part: measured one after another, or as tasks
(backends.py) in worker processes here (`--workers`) or on Ray (`--backend ray [--address]`, where the agent's
files travel to the node and the rows back), with the same rows; `--seeds` trains the agents first. Rows are
appended to results.csv group by group as they are measured, so `--resume` keeps the complete groups and
measures the rest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ...common.backends import Lost, run_tasks
from ...common.errors import ConfigError
from ...common.resources import return_freed_memory
from ...common.runs import Run, resolve_device
from .. import figures
from ..agent.policy import run_policy
from ..agent.run import AgentRun, MazeTrainConfig, load_agent
from ..agent.training import train_agent
from ..search.planner import plan_episodes
from ..sources.candidates import Candidates
from ..sources.registry import make_source
from ..world.maze import Maze
from .protocol import PlanEvalConfig, episode_noise, sample_episodes
from .results import (
    append_results,
    budget_points,
    difficulty_curves,
    group_rows,
    headline,
    read_results,
    results_markdown,
    write_results,
)

KIND = "plan-eval"
# The plain policy's columns beyond success: it plans nothing.
POLICY_COSTS = {"wormhole_share": float("nan"), "edges_per_graph": 0, "queries_per_episode": 0.0,
                "plan_seconds_per_episode": 0.0, "generate_seconds_per_episode": 0.0,
                "graph_seconds_per_episode": 0.0, "loop_seconds_per_episode": 0.0, "in_walls_share": 0.0,
                "fit_seconds": 0.0, "dropped_edges_per_episode": 0.0, "nodes_used_per_episode": 0.0}


def measure_part(agent: AgentRun, cfg: PlanEvalConfig, part: str, keep_shown: bool,
                 done: dict[tuple, list[dict]] | None = None,
                 results: Path | None = None) -> tuple[list[dict], dict]:
    """One part of the protocol on one agent run: its plain policy (`part="policy"`) or one candidate source at
    every node budget -> (results rows, the source's shown episode when `keep_shown`).

    Each (source, node budget)'s rows are appended to `results`, when given, as soon as they are measured.
    `done`: groups of rows measured before (a resumed run), kept instead of measured again. A source draws the
    candidates of every budget in turn, kept or not, so its random stream reaches each budget as in an
    uninterrupted run; only a source whose every budget is kept, and whose figure is not wanted, is skipped.
    Every part draws its own random streams, so the parts of an agent may run in any order, in any process,
    with the same rows."""
    done = done or {}
    return_freed_memory()  # in every process that plans: peak memory must not grow with the number of chunks
    seed, maze = agent.config.seed, agent.maze
    maze.distances  # noqa: B018  (ground truth for sampling, before any clock starts)
    ep = sample_episodes(maze, cfg)
    B = len(ep.starts)
    t0 = time.perf_counter()
    if part == "policy":
        if (seed, "policy", 0) in done:
            print(f"agent seed {seed}: plain policy kept from results.csv", flush=True)
            return done[(seed, "policy", 0)], {}
        reached, steps, _ = run_policy(agent.agent, maze, ep.starts, ep.goals, cfg.max_steps, cfg.seed + 1)
        rows = group_rows({"agent_seed": seed, "source": "policy", "nodes": 0}, ep, reached, steps, maze, cfg,
                          POLICY_COSTS)
        if results is not None:
            append_results(results, rows)
        print(f"agent seed {seed}: plain policy done ({time.perf_counter() - t0:.1f} s)", flush=True)
        return rows, {}
    if all((seed, part, n) in done for n in cfg.nodes) and not keep_shown:
        print(f"agent seed {seed}: {part} kept from results.csv", flush=True)
        return [row for n in cfg.nodes for row in done[(seed, part, n)]], {}
    noise = episode_noise(maze, B, cfg.seed, cfg.max_steps)
    shown_episode = int(np.flatnonzero(ep.bucket == ep.bucket.max())[0])  # the figure's: the first of the hardest
    rows: list[dict] = []
    shown: dict[str, dict] = {}
    source = make_source(part, agent, cfg)
    for i, n in enumerate(cfg.nodes):
        t0 = time.perf_counter()
        kept = done.get((seed, part, n))
        drawn = keep_shown and i == len(cfg.nodes) - 1  # the figures show each source's last budget
        cand = source.candidates(ep.starts, ep.goals, n)
        if kept is not None and not drawn:
            rows += kept
            continue
        res = plan_episodes(agent, cand, ep.starts, ep.goals, noise, max_dist=cfg.max_dist,
                            cleanup_steps=cfg.cleanup_steps if part == "sgm" else 0,
                            wormhole_at=cfg.wormhole_factor * cfg.max_dist, max_memory=cfg.max_memory,
                            shown=shown_episode if drawn else None)
        if drawn:  # the true map marks the nodes in walls, for the reader only
            e = res["shown"]
            e["nodes"] = e["nodes"][np.isfinite(e["nodes"]).all(-1)]  # a capped budget pads its end with NaN
            shown[part] = {**e, "budget": n, "in_walls": maze.blocked(e["nodes"])}
        if kept is not None:  # planned again only for the figure's episode; the written rows are kept
            rows += kept
            continue
        new_rows = group_rows({"agent_seed": seed, "source": part, "nodes": n}, ep, res["reached"],
                              res["steps"], maze, cfg, costs(cand, res, source.fit_seconds, B, maze))
        if results is not None:
            append_results(results, new_rows)
        rows += new_rows
        hard = [r for r in new_rows if r["difficulty"] >= 0.7 - 1e-9]
        rate = sum(r["successes"] for r in hard) / max(sum(r["episodes"] for r in hard), 1)
        print(f"agent seed {seed}: {part} {n} nodes: success at d>=0.7 {rate:.2f}, "
              f"{new_rows[0]['plan_seconds_per_episode'] * 1e3:.1f} ms and "
              f"{new_rows[0]['queries_per_episode']:.0f} queries per episode "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
    return rows, shown


def costs(cand: Candidates, res: dict, fit_seconds: float, B: int, maze: Maze) -> dict:
    """A group's columns beyond success, from its candidates and planned episodes (`plan_episodes`); the true
    map counts the generated states in walls, for the table only."""
    states = cand.states.reshape(-1, 2)
    in_walls = maze.blocked(states[np.isfinite(states).all(-1)])
    return {"wormhole_share": res["wormholes"] / max(res["edges"], 1),
            "edges_per_graph": res["edges"] / (1 if cand.shared else B),
            "queries_per_episode": (cand.queries + res["queries"]) / B,
            "plan_seconds_per_episode": (cand.seconds + res["graph_seconds"] + res["loop_seconds"]) / B,
            "generate_seconds_per_episode": cand.seconds / B,
            "graph_seconds_per_episode": res["graph_seconds"] / B,
            "loop_seconds_per_episode": res["loop_seconds"] / B,
            "in_walls_share": float(in_walls.mean()) if len(in_walls) else 0.0,
            "nodes_used_per_episode": cand.used,
            "fit_seconds": fit_seconds,
            "dropped_edges_per_episode": res["dropped_edges"] / B}


def local_task(folder: str, cfg: PlanEvalConfig, part: str, keep_shown: bool, done: dict[tuple, list[dict]],
               results: Path | None) -> tuple[list[dict], dict]:
    """`measure_part` as a task in a worker process on this machine: the agent read from its run folder."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return measure_part(load_agent(folder, resolve_device(cfg.device)), cfg, part, keep_shown, done, results)


def ray_task(files: dict[str, bytes], cfg: PlanEvalConfig, part: str, keep_shown: bool,
             done: dict[tuple, list[dict]], results: None) -> tuple[list[dict], dict]:
    """`measure_part` as a Ray task on a node that may not share this disk: the agent's files (`packed`), in a
    scratch folder for as long as it runs; the rows go back to be appended."""
    folder = unpacked(files)
    try:
        return local_task(folder, cfg, part, keep_shown, done, results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def packed(folder: Path) -> dict[str, bytes]:
    """An agent run folder's files, to send to a Ray node that may not share this disk."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def unpacked(files: dict[str, bytes]) -> str:
    """The files of `packed`, written to a new scratch folder on this node; its path."""
    folder = Path(tempfile.mkdtemp(prefix="ebmplan-agent-"))
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return str(folder)


def seed_agent(cfg: PlanEvalConfig, seed: int) -> Path:
    """The agent of one training seed in `cfg.agents_dir`: reused when complete, resumed when interrupted,
    trained with `maze train`'s defaults otherwise."""
    map_name = cfg.map or "FourRooms"
    folder = Path(cfg.agents_dir) / f"{Path(map_name).stem}-x{cfg.resize}{'-thin' if cfg.thin else ''}-seed{seed}"
    if (folder / "model.safetensors").is_file():
        print(f"agent seed {seed}: reusing {folder}", flush=True)
        return folder
    if (folder / "checkpoint.pt").is_file():
        print(f"agent seed {seed}: resuming {folder}", flush=True)
        return train_agent(MazeTrainConfig(resume=str(folder)))
    print(f"agent seed {seed}: training {folder}", flush=True)
    return train_agent(MazeTrainConfig(map=map_name, resize=cfg.resize, thin=cfg.thin, steps=cfg.agent_steps,
                                       seed=seed, device=cfg.device, out=str(folder), overwrite=True))


def save_figures(out: Path, rows: list[dict], cfg: PlanEvalConfig, where: str, walls: np.ndarray,
                 shown: dict[str, dict]) -> None:
    """success_vs_difficulty.png, success_vs_nodes.png (when the hard buckets were run; titled with the map,
    `where`) and maze_<source>.png."""
    curves = difficulty_curves(rows, cfg.difficulties)
    policy = curves.pop("policy")[0]
    figures.save_success_vs_difficulty(out / "success_vs_difficulty.png", list(cfg.difficulties), policy, curves)
    if max(cfg.difficulties) >= 0.7:  # the node-budget figure is about the hard buckets only
        seeds = ", ".join(map(str, sorted({r["agent_seed"] for r in rows})))
        figures.save_success_vs_nodes(out / "success_vs_nodes.png", *budget_points(rows, cfg.nodes),
                                      title=f"{where}, agent seeds {seeds}")
    for src, e in shown.items():
        title = (f"{src}, {e['budget']} nodes: {'reached' if e['reached'] else 'failed'} in {e['steps']} steps "
                 f"({int(e['in_walls'].sum())} nodes in walls)")
        figures.save_episode(out / f"maze_{src}.png", walls, e, title)


def plan_eval(cfg: PlanEvalConfig, command: str = "plan") -> Path:
    """Run the protocol and write config.json, system.json, results.csv (group by group as measured, then once
    more in order), results.md, figures and, last, metrics.json (the headline: success at d >= 0.7). With
    `cfg.resume`, continue that run folder with its saved settings, keeping the rows results.csv already
    holds."""
    run = Run.start(cfg, KIND, command, strict=True)
    cfg, out = run.config, run.path
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    paths = list(cfg.agent) or [seed_agent(cfg, seed) for seed in cfg.seeds]
    agents = [load_agent(p, run.device) for p in paths]
    for a in agents:
        if cfg.map is not None and a.config.map != cfg.map:
            raise ConfigError(f"agent {a.path} was trained on map {a.config.map!r}, not --map {cfg.map!r}")
        if a.maze.walls.shape != agents[0].maze.walls.shape or (a.maze.walls != agents[0].maze.walls).any():
            raise ConfigError(f"agents {agents[0].path} and {a.path} were trained on different maps")
    done = read_results(out / "results.csv", len(cfg.difficulties)) if run.resumed else {}
    write_results(out / "results.csv", [row for group in done.values() for row in group])  # the kept groups
    parts = [(i, part) for i in range(len(agents)) for part in ("policy", *cfg.sources)]
    measured: dict[tuple[int, str], tuple[list[dict], dict]] = {}
    if cfg.backend == "local" and cfg.workers == 1:
        for i, part in parts:
            measured[(i, part)] = measure_part(agents[i], cfg, part, i == 0, done, out / "results.csv")
    else:
        # Each part is a task: on this machine it reads the agent from this disk and appends its rows to
        # results.csv as it goes; on Ray, it gets the agent's files and returns its rows, which are appended here.
        ray = cfg.backend == "ray"
        sent = [packed(a.path) for a in agents] if ray else [str(a.path) for a in agents]
        tasks = [(sent[i], cfg, part, i == 0, done, None if ray else out / "results.csv") for i, part in parts]
        finished = run_tasks(ray_task if ray else local_task, tasks, backend=cfg.backend,
                             workers=cfg.workers or os.cpu_count() or 1, address=cfg.address, ship_code=cfg.ship_code)
        for index, result in finished:
            if isinstance(result, Lost):
                finished.close()  # stops the Ray it started, now rather than when the traceback goes
                raise ConfigError(f"plan eval: the task for agent {agents[parts[index][0]].path}, "
                                  f"{parts[index][1]}, did not finish: {result.error}; run again with --resume "
                                  f"{out}")
            if ray:  # the rows it measured (the kept ones are in results.csv already)
                append_results(out / "results.csv", [r for r in result[0]
                                                      if (r["agent_seed"], r["source"], r["nodes"]) not in done])
            measured[parts[index]] = result
    measured_in_order = [measured[p] for p in parts]
    rows = [row for part_rows, _ in measured_in_order for row in part_rows]
    shown = {src: e for _, part_shown in measured_in_order for src, e in part_shown.items()}
    write_results(out / "results.csv", rows)  # every row, in order
    m = agents[0].maze
    where = f"{m.name} ({m.height}x{m.width})"
    title = f"Planning on {where}, agent seeds {', '.join(str(a.config.seed) for a in agents)}"
    (out / "results.md").write_text(results_markdown(rows, cfg, title))
    if cfg.draw:
        save_figures(out, rows, cfg, where, m.walls, shown)
    run.write_metrics(headline(rows))  # last: a run folder with metrics.json is complete (sweeps skip it)
    return out
