"""The offline OGBench agent: the goal sampler, training and evaluation end to end on a tiny dataset made with
OGBench's recipe, a distance that orders held-out trajectory states by the steps left, and exact resume."""

import json

import numpy as np
import pytest
import torch

from conftest import kill_resume_and_rerun, run_cli, untimed_metrics

ogbench = pytest.importorskip("ogbench")

from ebmplan.common.files import load_checkpoint  # noqa: E402
from ebmplan.ogbench import data  # noqa: E402
from ebmplan.ogbench.goals import GoalMix, Trajectories, sample_goals  # noqa: E402
from ebmplan.ogbench.run import load_agent  # noqa: E402

ENV = "pointmaze-medium-navigate-v0"
TINY = ["--width", "64", "--depth", "2", "--dim", "16", "--batch-size", "64", "--lr", "1e-3", "--log-every", "50",
        "--calibration-horizon", "100"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """10 trajectories of 1001 steps by OGBench's recipe (and one held out in the -val file)."""
    return data.generate(ENV, seed=0, out=tmp_path_factory.mktemp("data"), episodes=10).train


def test_goals_are_later_states_of_the_same_trajectory_or_random():
    ends = np.repeat([9, 19, 29], 10)
    data = Trajectories(np.arange(30)[:, None].repeat(2, 1).astype(np.float32), np.zeros((30, 2), np.float32), ends)
    assert np.array_equal(Trajectories.from_terminals(data.observations, data.actions,
                                                      np.isin(np.arange(30), [9, 19, 29])).ends, ends)
    rng = np.random.default_rng(0)
    rows = rng.choice(data.starts, size=5000)
    goals, k = sample_goals(rng, data, rows, GoalMix(p_current=0.2, p_future=0.5, discount=0.9))
    fut = k > 0
    assert np.all(goals[fut] > rows[fut]) and np.all(goals[fut] <= ends[rows[fut]])  # same trajectory, later
    assert np.array_equal(goals[k == 0], rows[k == 0])
    assert abs(fut.mean() - 0.5) < 0.03 and abs((k == 0).mean() - 0.2) < 0.03 and abs((k == -1).mean() - 0.3) < 0.03
    assert np.all(data.starts != 9) and 29 not in data.starts  # last rows have no next state


def test_train_then_evaluate_the_policy_and_the_planner(dataset, tmp_path):
    run = tmp_path / "run"
    res = run_cli("ogbench", "train", "--dataset", str(dataset), "--out", str(run), *TINY, "--steps", "300")
    assert res.returncode == 0, res.stderr
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,q_loss,v_loss") and len(rows) == 1 + 300 // 50
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cpu_seconds"] > 0 and metrics["updates"] == 300
    ev = run_cli("ogbench", "eval", "--run", str(run), "--tasks", "1", "--episodes", "1", "--nodes", "100")
    assert ev.returncode == 0, ev.stderr
    for planner in ("policy", "graph"):
        result = json.loads((run / f"eval-{planner}.json").read_text())["results"]
        assert list(result["task_success"]) == ["task1"] and 0 <= result["success"] <= 1
    assert json.loads((run / "eval-graph.json").read_text())["results"]["nodes"] == 100


def test_the_distance_grows_with_the_steps_left_on_held_out_trajectories(dataset, tmp_path):
    run = tmp_path / "run"
    res = run_cli("ogbench", "train", "--dataset", str(dataset), "--out", str(run), *TINY, "--steps", "800")
    assert res.returncode == 0, res.stderr
    trained = load_agent(run)
    assert trained.metrics["held_out_monotonicity"] > 0.4  # mean Spearman rho; untrained: 0.13
    # and through the calibrated distance: near pairs of one held-out trajectory are closer than far ones
    obs = data.load(dataset, split="val").observations[:400]
    d = trained.agent.distance(obs[:300], obs[np.arange(300) + 10]), trained.agent.distance(obs[:300], obs[100:400])
    assert np.median(d[0]) < np.median(d[1])


@pytest.mark.e2e  # kill-and-resume: make test-e2e
def test_a_killed_run_resumes_to_the_same_result(dataset, tmp_path):
    args = ["--dataset", str(dataset), *TINY, "--steps", "400", "--checkpoint-every", "100"]
    killed, whole = kill_resume_and_rerun(["ogbench", "train"], args, tmp_path, after_step=100, total=400,
                                          timeout=240)
    assert untimed_metrics(killed) == untimed_metrics(whole)
    curve = [[r.rsplit(",", 2)[0] for r in (p / "metrics.csv").read_text().splitlines()] for p in (killed, whole)]
    assert curve[0] == curve[1] and len(curve[0]) == 1 + 400 // 50
    s1, s2 = load_checkpoint(killed / "checkpoint.pt"), load_checkpoint(whole / "checkpoint.pt")
    assert all(torch.equal(s1["model"][k], s2["model"][k]) for k in s2["model"])


def test_bad_input_is_one_sentence_and_exit_2(tmp_path):
    res = run_cli("ogbench", "train", "--dataset", str(tmp_path / "none.npz"))
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("ogbench", "eval", "--run", str(tmp_path), "--planner", "astar")
    assert res.returncode == 2 and "planner" in res.stderr and "Traceback" not in res.stderr
