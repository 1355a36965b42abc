"""`--resume DIR` on compare, capacity and plan eval: a run cut short and resumed gives the results of an
uninterrupted one; a folder of another kind, or options that contradict the saved run, exit 2."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import main_code, run_cli
from ebmplan.common.runs import CONFIG_VERSION


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    return subprocess.Popen([sys.executable, "-m", "ebmplan", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    """SIGKILL `proc` and its whole process group (pool workers too) as soon as `ready()` holds."""
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ready(), "the run ended before it could be cut short"


def _step(checkpoint: Path) -> int:
    from ebmplan.common.errors import ConfigError
    from ebmplan.common.files import load_checkpoint

    try:
        return load_checkpoint(checkpoint)["step"]
    except ConfigError:
        return 0


def _untimed(obj):
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if not k.endswith("seconds")}
    return obj


# ------------------------------------------------------------------------------------------------------ compare

COMPARE = ["--methods", "pca,contrastive,kmeans", "--steps", "600", "--n-samples", "200"]


@pytest.mark.e2e
def test_a_killed_compare_resumes_to_the_same_table(tmp_path):
    # Killed once contrastive has its mid-way checkpoint (step 500 of 600): pca is complete and is reused,
    # contrastive resumes from step 500, kmeans has not started and trains.
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = _start(["compare", "--out", str(killed), *COMPARE])
    _kill_when(proc, lambda: _step(killed / "contrastive" / "checkpoint.pt") >= 500)
    assert (killed / "pca" / "metrics.json").exists() and not (killed / "compare.json").exists()
    resumed = run_cli("compare", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    assert "pca: reusing" in resumed.stdout and "contrastive: resuming" in resumed.stdout
    assert run_cli("compare", "--out", str(whole), *COMPARE).returncode == 0
    got, want = (json.loads((p / "compare.json").read_text()) for p in (killed, whole))
    assert list(got) == ["pca", "contrastive", "kmeans"]
    assert _untimed(got) == _untimed(want)
    assert (killed / "compare.md").exists() and (killed / "compare.png").exists()


# ----------------------------------------------------------------------------------------------------- capacity

CAPACITY = ["--widths", "8,16", "--seeds", "0", "--set", "steps=300", "--set", "checkpoint_every=50",
            "--set", "n_samples=200", "--set", "infer_steps=30", "--workers", "1"]


@pytest.mark.e2e
def test_a_killed_capacity_study_resumes_to_the_same_results(tmp_path):
    # Killed (with its worker) once the width-16 run is past a mid-way checkpoint: width 8 is complete and
    # reused, width 16 resumes from its checkpoint, and the options come from the folder's config.json.
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = _start(["capacity", "--out", str(killed), *CAPACITY])
    _kill_when(proc, lambda: 50 <= _step(killed / "width=16-seed=0" / "checkpoint.pt") < 300)
    assert (killed / "width=8-seed=0" / "metrics.json").exists()
    assert not (killed / "width=16-seed=0" / "metrics.json").exists()
    resumed = run_cli("capacity", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert run_cli("capacity", "--out", str(whole), *CAPACITY).returncode == 0
    for name in ("width=8-seed=0", "width=16-seed=0"):
        got, want = (_untimed(json.loads((p / name / "metrics.json").read_text())) for p in (killed, whole))
        assert got == want
    assert (killed / "capacity.png").exists() and (killed / "capacity_metrics.png").exists()


# ---------------------------------------------------------------------------------------------------- plan eval

PLAN = ["--sources", "uniform,ebm", "--nodes", "8", "16", "--episodes", "3", "--difficulties", "0.3", "0.8",
        "--max-steps", "30", "--gen-steps", "20"]


@pytest.fixture
def agent(maze_agent):
    return maze_agent  # conftest's: trained once per session


def _rows(run: Path) -> list[dict]:
    with (run / "results.csv").open(newline="") as f:
        return [{k: v for k, v in r.items() if "seconds" not in k} for r in csv.DictReader(f)]


@pytest.mark.e2e
def test_plan_eval_resumes_keeping_the_rows_written(agent, tmp_path):
    # Cut short after the policy and uniform's first budget (and half of a row group, as a crash mid-write
    # leaves): the resumed run keeps those rows as written, regenerates uniform's 8 candidates without planning
    # them so that its 16 draws what an uninterrupted run draws, and measures the rest.
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = run_cli("plan", "eval", "--agent", str(agent), *PLAN, "--out", str(whole))
    assert done.returncode == 0, done.stderr
    shutil.copytree(whole, cut)
    lines = (whole / "results.csv").read_text().splitlines(keepends=True)
    assert len(lines) == 1 + 5 * 2  # header; policy, uniform 8, 16, ebm 8, 16: two difficulties each
    (cut / "results.csv").write_text("".join(lines[:5] + [lines[5], lines[6][:20]]))
    for name in ("results.md", "plans.png"):
        (cut / name).unlink(missing_ok=True)
    resumed = run_cli("plan", "eval", "--resume", str(cut))
    assert resumed.returncode == 0, resumed.stderr
    assert "plain policy kept" in resumed.stdout
    assert (cut / "results.csv").read_text().splitlines()[:5] == [x.rstrip("\n") for x in lines[:5]]  # as written
    assert _rows(cut) == _rows(whole)
    assert (cut / "results.md").exists()


@pytest.mark.e2e
def test_a_killed_plan_eval_resumes_to_the_same_results(agent, tmp_path):
    # results.csv is written group by group: killed once it holds some groups, resumed, same results.
    killed, whole = tmp_path / "killed", tmp_path / "whole"

    def groups() -> int:
        path = killed / "results.csv"
        return len(path.read_text().splitlines()) // 2 if path.exists() else 0

    proc = _start(["plan", "eval", "--agent", str(agent), *PLAN, "--no-draw", "--out", str(killed)])
    _kill_when(proc, lambda: groups() >= 2 and not (killed / "results.md").exists())
    assert not (killed / "results.md").exists()
    resumed = run_cli("plan", "eval", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    done = run_cli("plan", "eval", "--agent", str(agent), *PLAN, "--no-draw", "--out", str(whole))
    assert done.returncode == 0, done.stderr
    assert _rows(killed) == _rows(whole)


# ---------------------------------------------------------------------------------------------------- bad input

def test_resume_of_a_wrong_folder_or_with_contradicting_options_exits_2(tmp_path, capsys):
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "config.json").write_text(json.dumps({"kind": "plan-eval", "command": "plan eval",
                                                  "version": CONFIG_VERSION, "config": {"agent": ["a"], "nodes": [8]}}))
    other = tmp_path / "energy"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "energy", "version": CONFIG_VERSION, "config": {}}))
    cases = [(["compare", "--resume", str(plan)], "not 'compare'"),
             (["capacity", "--resume", str(plan)], "not 'capacity'"),
             (["plan", "eval", "--resume", str(other)], "not 'plan-eval'"),
             (["compare", "--resume", str(tmp_path / "none")], "does not exist"),
             (["capacity", "--resume", str(tmp_path / "none")], "does not exist"),
             (["plan", "eval", "--resume", str(tmp_path)], "does not exist"),
             (["plan", "eval", "--resume", str(plan), "--nodes", "16"], "contradicts"),
             (["plan", "eval", "--resume", str(plan), "--overwrite"], "contradicts")]
    for args, words in cases:
        assert main_code(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, (args, err)
    assert main_code(["plan", "eval", "--resume", str(plan), "--nodes", "8", "--out", str(plan)]) != 2 or \
        "contradicts" not in capsys.readouterr().err
