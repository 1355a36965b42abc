"""`ebmplan ogbench train` and `ebmplan ogbench eval`: thin commands over train.py, plan.py and OGBench's
evaluation (evaluation.py).

`eval` measures a trained run with OGBench's protocol (its 5 tasks, 50 episodes each by default) for each planner
asked: `policy` (the learned policy straight at the goal) and `graph` (plan.py's planner over dataset states).
It writes `eval-<planner>.json` into the run folder (or `--out`): evaluation.py's record (overall and per-task
success, each episode's outcome and length), the planner's graph and queries, and the wall and CPU seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.config import Config, split_names
from ..common.errors import ConfigError, choose
from ..common.files import write_json
from ..common.monitor import report
from ..common.runs import seed_everything
from . import data
from .evaluation import DATASETS, check_name, evaluate
from .plan import GraphPlanner, dataset_nodes
from .run import OgbenchTrainConfig, load_agent
from .train import load_dataset, train_agent

PLANNERS = ("policy", "graph")


@dataclass
class OgbenchEvalConfig(Config):
    """Measure a trained `ogbench train` run with OGBench's evaluation: the plain policy and/or the planner."""

    run: str = ""
    """the run folder of `ebmplan ogbench train`"""
    planner: tuple[str, ...] = ("policy", "graph")
    """which to evaluate: policy (straight at the goal), graph (SORB's planner over dataset states)"""
    dataset: str | None = None
    """the OGBench dataset whose maze and tasks are evaluated (default: the one the run was trained on)"""
    tasks: tuple[int, ...] = (1, 2, 3, 4, 5)
    """OGBench task ids"""
    episodes: int = 50
    """episodes per task"""
    nodes: int = 1000
    """graph nodes: dataset observations drawn at random"""
    max_dist: float = 50.0
    """edge cutoff of the graph, in steps of the calibrated distance"""
    seed: int = 0
    """seed of the node draw and of the evaluation episodes"""
    out: str | None = None
    """folder for eval-<planner>.json (default: the run folder)"""

    def check(self) -> None:
        if not self.run:
            raise ConfigError("--run is required: the folder of an `ebmplan ogbench train` run")
        for name in split_names(self.planner):
            choose("planner", name, PLANNERS)
        self.require(at_least_one=("episodes", "nodes"), positive=("max_dist",))


def ogbench_eval(cfg: OgbenchEvalConfig) -> dict[str, dict]:
    """Evaluate each planner of `cfg` on the run; write and return {planner: results}."""
    cfg.validate()
    trained = load_agent(cfg.run)
    name = cfg.dataset or data.load(trained.config.dataset).name
    if name is None:
        raise ConfigError(f"the run's dataset {trained.config.dataset} does not say which OGBench maze it is of; "
                          f"name it with --dataset (one of: {', '.join(DATASETS)})")
    check_name(name)
    out = Path(cfg.out or cfg.run)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for planner in split_names(cfg.planner):
        seed_everything(cfg.seed)
        t0, cpu0 = time.perf_counter(), time.process_time()
        extra: dict = {}
        if planner == "policy":
            policy = trained.agent.policy
        else:
            train_data, _ = load_dataset(trained.config)
            nodes = dataset_nodes(train_data.observations, cfg.nodes, np.random.default_rng([cfg.seed, 2]))
            policy = GraphPlanner(trained.agent.distance, trained.agent.policy, nodes, cfg.max_dist)
            extra = {"nodes": len(nodes), "edges": policy.edges, "max_dist": cfg.max_dist,
                     "graph_seconds": policy.graph_seconds}
        scored = evaluate(name, policy, tasks=cfg.tasks, episodes=cfg.episodes, seed=cfg.seed)
        if planner == "graph":
            extra.update(queries=policy.queries, waypoint_steps=policy.waypoints)
        result = {**scored.record(), **extra, "seconds": time.perf_counter() - t0,
                  "cpu_seconds": time.process_time() - cpu0}
        write_json(out / f"eval-{planner}.json", {"config": cfg, "results": result})
        results[planner] = result
    return results


def run_train(cfg: OgbenchTrainConfig) -> Path:
    return report(train_agent(cfg))


def run_eval(cfg: OgbenchEvalConfig) -> dict[str, dict]:
    results = ogbench_eval(cfg)
    for name, r in results.items():
        tasks = ", ".join(f"{k} {v:.2f}" for k, v in r["task_success"].items())
        print(f"{name}: success {r['success']:.3f} ({tasks}); {r['cpu_seconds']:.0f} CPU s")
    return results
