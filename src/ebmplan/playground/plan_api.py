"""The plan page's requests, checked and answered: maps, agents, agent trainings and one planned episode.

Each function takes the decoded JSON of a request and returns what the page gets back; a bad request is one
ConfigError sentence (the app answers it with status 400).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from ..common.errors import ConfigError, choose
from ..plan.agent.run import KIND
from ..plan.eval.protocol import PlanEvalConfig
from ..plan.sources.registry import SOURCES
from ..plan.world.maze import bundled_maps
from .episode import plan_one
from .folders import RunsFolder
from .jobs import Job, Jobs
from .limits import MAX_DIST, MAX_GEN_STEPS, MAX_NODES, MAX_PLAN_STEPS
from .mazes import describe, map_argument, maze_key, page_maze, parse_map_file
from .sources import Sources

PLAN_OPTIONS = ("agent", "map", "start", "goal", "source", "nodes", "max_dist", "max_steps", "gen_steps")


def bundled() -> list[dict]:
    return [{"name": name, "height": int(w.shape[0]), "width": int(w.shape[1])} for name, w in bundled_maps().items()]


def maze_of(request: Any, runs: RunsFolder) -> dict:
    """A map as the page draws it: `{"map": descriptor}` or `{"text": a map file's text, "resize", "thin"}`."""
    if isinstance(request, dict) and "text" in request:
        descriptor = {"rows": parse_map_file(request["text"]), "resize": request.get("resize", 1),
                      "thin": request.get("thin", False)}
    else:
        descriptor = request.get("map") if isinstance(request, dict) else None
    map_name, resize, thin = map_argument(descriptor, runs)
    return describe(page_maze(map_name, resize, thin), map_name, resize, thin)


def _whole(request: dict, name: str, default: int, high: int) -> int:
    value = request.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ConfigError(f"{name.replace('_', ' ')} must be a whole number from 1 to {high}, got {value!r}")
    return value


def _point(request: dict, name: str) -> list[float]:
    value = request.get(name)
    if (not isinstance(value, list) or len(value) != 2 or
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ConfigError(f"click a {name} on the map first (a {name} is a point [row, column])")
    return [float(v) for v in value]


class Planner:
    """Plans one episode at a time (torch's global random numbers, which the generators draw, are one per
    process), with the fitted sources kept in `sources`."""

    def __init__(self, runs: RunsFolder, jobs: Jobs):
        self.runs, self.jobs, self.sources = runs, jobs, Sources(jobs)
        self.lock = threading.Lock()

    def plan(self, request: Any) -> dict:
        """`{"agent", "map", "start", "goal", "source", "nodes", "max_dist", "max_steps", "gen_steps"}` -> the
        planned episode, or `{"job": ...}` while the source's generator is being fitted."""
        if not isinstance(request, dict):
            raise ConfigError("a plan request names an agent, a map, a start, a goal and a source")
        unknown = sorted(set(request) - set(PLAN_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r}; a plan request has: {', '.join(PLAN_OPTIONS)}")
        if not request.get("agent"):
            raise ConfigError("pick an agent (or train one for this map) first")
        path = self.runs.run(request["agent"], KIND)
        if not (path / "metrics.json").is_file():
            raise ConfigError(f"agent {request['agent']} has not finished training; plan with it once it is ready")
        map_name, resize, thin = map_argument(request.get("map"), self.runs)
        shown = page_maze(map_name, resize, thin)
        run = self.sources.agent(path)
        if maze_key(run.maze.walls) != maze_key(shown.walls):
            c = run.config
            raise ConfigError(f"agent {request['agent']} was trained on {Path(c.map).stem} x{c.resize}"
                              f"{' thin' if c.thin else ''} ({run.maze.height}x{run.maze.width} cells), not on the "
                              f"map shown; pick an agent trained on this map, or train one")
        start, goal = _point(request, "start"), _point(request, "goal")
        source = choose("candidate source", request.get("source", "uniform"), SOURCES)
        nodes = _whole(request, "nodes", 100, MAX_NODES)
        max_dist = request.get("max_dist", PlanEvalConfig.max_dist)
        if isinstance(max_dist, bool) or not isinstance(max_dist, (int, float)) or not 0 < max_dist <= MAX_DIST:
            raise ConfigError(f"the edge cutoff must be a number above 0 and at most {MAX_DIST}, got {max_dist!r}")
        cfg = PlanEvalConfig(agent=(request["agent"],), sources=(source,), nodes=(nodes,), max_dist=float(max_dist),
                             max_steps=_whole(request, "max_steps", 300, MAX_PLAN_STEPS),
                             gen_steps=_whole(request, "gen_steps", PlanEvalConfig.gen_steps, MAX_GEN_STEPS))
        cfg.validate()
        with self.lock:
            fitted = self.sources.source(path, source, cfg)
            if isinstance(fitted, Job):
                return {"job": fitted.status()}
            return plan_one(run, fitted, start, goal, nodes, max_dist=cfg.max_dist, max_steps=cfg.max_steps,
                            seed=cfg.seed, cleanup_steps=cfg.cleanup_steps,
                            wormhole_at=cfg.wormhole_factor * cfg.max_dist)
