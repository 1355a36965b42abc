"""The maze agent keeps the reliability promises: exact resume after SIGKILL, divergence caught, safe loading."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from conftest import kill_resume_and_rerun, main_code, run_cli
from ebmplan.common.files import load_checkpoint
from ebmplan.plan.agent.run import load_agent

TINY = ["--map", "Spiral5x5", "--resize", "2", "--width", "32", "--n-envs", "8", "--updates-per-collect", "2",
        "--warmup", "4", "--log-every", "50", "--batch-size", "32", "--relabel", "0.5"]
TIME_KEYS = {"train_seconds", "cpu_seconds"}


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("maze", "train", *args)


def results(run):
    """Everything a run produced, less wall-clock and CPU times."""
    metrics = {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k not in TIME_KEYS}
    curve = [r.rsplit(",", 2)[0] for r in (run / "metrics.csv").read_text().splitlines()]  # drop the times
    state = load_checkpoint(run / "checkpoint.pt")
    with np.load(run / "trajectories.npz") as npz:
        trajectories = {k: npz[k] for k in npz.files}
    return metrics, curve, state, trajectories


@pytest.mark.e2e
def test_a_killed_agent_run_resumes_to_the_same_result(tmp_path):
    steps = ["--steps", "800", "--checkpoint-every", "100"]
    killed, whole = kill_resume_and_rerun(["maze", "train"], [*TINY, *steps], tmp_path, after_step=200,
                                          total=800, timeout=240)
    (m1, c1, s1, t1), (m2, c2, s2, t2) = results(killed), results(whole)
    assert m1 == m2 and c1 == c2 and len(c1) == 1 + 800 // 50
    assert s1["step"] == s2["step"] == 800
    for part in ("model", "target"):
        assert all(torch.equal(s1[part][k], s2[part][k]) for k in s2[part])
    assert t1.keys() == t2.keys() and all(np.array_equal(t1[k], t2[k]) for k in t2)
    w1, w2 = load_agent(killed).agent.state_dict(), load_agent(whole).agent.state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w2)  # model.safetensors too


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run (made in process), copied by the tests that change it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main_code(["maze", "train", "--out", str(run), *TINY, "--steps", "40", "--checkpoint-every", "20"]) == 0
    return run


def test_resuming_a_finished_run_changes_nothing(finished, tmp_path):
    run = shutil.copytree(finished, tmp_path / "run")
    before = results(run)
    seconds = json.loads((run / "metrics.json").read_text())["train_seconds"]
    again = cli("--resume", str(run))
    assert again.returncode == 0, again.stderr
    after = results(run)
    assert before[0] == after[0] and before[1] == after[1]
    assert json.loads((run / "metrics.json").read_text())["train_seconds"] == seconds


def test_divergence_stops_the_agent_and_keeps_a_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    code = main_code(["maze", "train", "--out", str(run), *TINY, "--steps", "100", "--checkpoint-every", "1",
                      "--lr", "3e11"])  # in process
    err = capsys.readouterr().err
    assert code == 1, err
    assert "training diverged at step" in err and "--lr" in err and "Traceback" not in err
    state = load_checkpoint(run / "checkpoint.pt")  # the last good one loads ...
    assert 1 <= state["step"] < 100
    assert all(torch.isfinite(v).all() for part in ("model", "target") for v in state[part].values())
    assert not (run / "metrics.json").exists()
    assert load_agent(run).agent.state_dict().keys() == state["model"].keys()  # its weights load too


def test_a_crafted_agent_checkpoint_is_refused_and_never_runs_code(finished, tmp_path):
    run = shutil.copytree(finished, tmp_path / "run")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"version": 1, "model": Exploit()}, run / "checkpoint.pt")
    res = cli("--resume", str(run))
    assert res.returncode == 2 and "cannot be loaded safely" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()
