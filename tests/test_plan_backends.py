"""`plan eval` on the task engine (backends.py): the plain policy and each source of each agent as a task, in
worker processes or as Ray tasks whose agent files travel to the node, give the rows of one process."""

import csv
import os
from pathlib import Path

import pytest

from conftest import MAZE_TINY, run_cli
from ebmplan.plan.eval.protocol import PlanEvalConfig
from ebmplan.plan.eval.run import plan_eval

pytestmark = pytest.mark.e2e  # worker processes and a Ray cluster: make test-e2e

PLAN = dict(sources=("uniform", "replay", "cvae", "ebm"), nodes=(8, 16), episodes=3, difficulties=(0.3, 0.8),
            max_steps=30, gen_steps=20, draw=False)


@pytest.fixture(scope="module")
def agents(maze_agent, tmp_path_factory):
    """conftest's agent (seed 0) and one of seed 1."""
    a1 = tmp_path_factory.mktemp("agents") / "a1"
    done = run_cli("maze", "train", *MAZE_TINY, "--seed", "1", "--out", str(a1))
    assert done.returncode == 0, done.stderr
    return (str(maze_agent), str(a1))


def rows(out: Path) -> list[dict]:
    with (out / "results.csv").open() as f:
        return [{k: v for k, v in r.items() if "seconds" not in k} for r in csv.DictReader(f)]


def test_workers_and_ray_tasks_give_the_rows_of_one_process(agents, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    os.environ.setdefault("RAY_worker_niceness", "0")
    one = plan_eval(PlanEvalConfig(agent=agents, out=str(tmp_path / "one"), **PLAN))
    pool = plan_eval(PlanEvalConfig(agent=agents, out=str(tmp_path / "pool"), workers=2, **PLAN))
    ray = plan_eval(PlanEvalConfig(agent=agents, out=str(tmp_path / "ray"), workers=2, backend="ray", **PLAN))
    expected = rows(one)
    assert len(expected) == 2 * (1 + 4 * 2) * 2  # agents x (policy + sources x budgets) x difficulties
    assert {r["agent_seed"] for r in expected} == {"0", "1"}
    assert rows(pool) == expected
    assert rows(ray) == expected
    assert (ray / "results.md").read_text().splitlines()[0] == (one / "results.md").read_text().splitlines()[0]
