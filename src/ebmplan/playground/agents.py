"""Agent runs under `--runs` for the plan page: listed with their map's key and how far each one trained, and
trained from the page as background jobs by `ebmplan maze train`'s own `train_agent` (a run folder like any
other; the page shows the command that makes the same agent). A job outlives its tab: the page can leave and
come back, and an agent whose training was cut (the server stopped) resumes from its last checkpoint.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..common.errors import ConfigError
from ..common.runs import saved_config
from ..plan.agent.run import KIND, MazeTrainConfig
from ..plan.agent.training import train_agent
from ..plan.world.maze import bundled_maps
from .folders import RunsFolder
from .jobs import Job, Jobs
from .limits import MAX_AGENT_STEPS
from .mazes import map_argument, maze_key, page_maze


def agent_key(runs: RunsFolder, cfg: MazeTrainConfig) -> str | None:
    """The key of the agent's map, or None when its map file lies outside `--runs` (not read) or is gone."""
    if cfg.map not in bundled_maps() and not (runs.inside(cfg.map) and Path(cfg.map).is_file()):
        return None
    try:
        return maze_key(page_maze(cfg.map, cfg.resize, cfg.thin).walls)
    except ConfigError:
        return None


def trained_steps(path: Path) -> int:
    """The last step in the run's metrics.csv (0 before the first row)."""
    try:
        rows = (path / "metrics.csv").read_text().splitlines()
        return int(rows[-1].split(",")[0]) if len(rows) > 1 else 0
    except (OSError, ValueError, IndexError):
        return 0


def list_agents(runs: RunsFolder, jobs: Jobs) -> list[dict]:
    """Every agent run under `--runs`: its name, map, scale, steps, key and state (ready, training with its job,
    or interrupted)."""
    running = {job.key: job for job in jobs.all() if job.state == "running"}
    out = []
    for path in runs.runs_of(KIND):
        try:
            cfg = saved_config(path, MazeTrainConfig, KIND)
        except ConfigError:
            continue
        name = runs.name_of(path)
        job = running.get(f"agent:{name}")
        state = ("training" if job else "ready" if (path / "metrics.json").is_file() and
                 (path / "model.safetensors").is_file() else "interrupted")
        out.append({"name": name, "map": Path(cfg.map).stem, "resize": cfg.resize, "thin": cfg.thin,
                    "steps": cfg.steps, "trained": trained_steps(path), "state": state,
                    "job": job.id if job else None, "key": agent_key(runs, cfg)})
    return out


def command_of(cfg: MazeTrainConfig) -> str:
    """The `ebmplan maze train` command that trains the same agent."""
    words = ["ebmplan", "maze", "train", "--map", cfg.map, "--resize", str(cfg.resize), "--steps", str(cfg.steps),
             "--log-every", str(cfg.log_every), "--out", cfg.out]
    return shlex.join(words + (["--thin"] if cfg.thin else []))


def start_training(runs: RunsFolder, jobs: Jobs, request: Any) -> tuple[Job, str]:
    """Train an agent on the page's map: `{"map": ..., "steps": N, "name": NAME}` -> (the job, the command that
    trains the same agent)."""
    if not isinstance(request, dict):
        raise ConfigError("an agent to train needs a map, steps and a name")
    unknown = sorted(set(request) - {"map", "steps", "name"})
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r}; an agent to train has a map, steps and a name")
    map_name, resize, thin = map_argument(request.get("map"), runs)
    page_maze(map_name, resize, thin)  # within the page's bounds
    steps = request.get("steps", 3000)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_AGENT_STEPS:
        raise ConfigError(f"steps must be a whole number from 1 to {MAX_AGENT_STEPS}, got {steps!r}")
    folder = runs.new_run(request.get("name"))
    # metrics.csv every 1% of the way: the page's progress bar reads it (logging changes no number)
    cfg = MazeTrainConfig(map=map_name, resize=resize, thin=thin, steps=steps, out=str(folder),
                          log_every=max(1, steps // 100))
    cfg.validate()
    name = runs.name_of(folder)
    job = jobs.start(f"agent:{name}", "agent", f"training agent {name}", train_for_page, cfg,
                     progress=lambda: trained_steps(folder) / steps)
    return job, command_of(cfg)


def resume_training(runs: RunsFolder, jobs: Jobs, name: Any) -> Job:
    """Continue an interrupted agent run from its last checkpoint."""
    path = runs.run(name, KIND)
    cfg = saved_config(path, MazeTrainConfig, KIND)
    if (path / "metrics.json").is_file():
        raise ConfigError(f"agent {name} has finished training; nothing to resume")
    if not (path / "checkpoint.pt").is_file():
        raise ConfigError(f"agent {name} stopped before its first checkpoint; train a new one")
    return jobs.start(f"agent:{name}", "agent", f"resuming agent {name}", train_for_page,
                      MazeTrainConfig(resume=str(path)), progress=lambda: trained_steps(path) / cfg.steps)


def train_for_page(cfg: MazeTrainConfig) -> dict:
    """A job's work (in its own process): `ebmplan maze train` with this config."""
    return {"path": str(train_agent(cfg))}
