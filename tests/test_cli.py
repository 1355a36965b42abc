import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ebmplan
from conftest import TINY, main_code
from ebmplan import load_run
from ebmplan.cli import COMMANDS

RUN_FILES = ["config.json", "system.json", "metrics.csv", "metrics.json", "model.safetensors", "checkpoint.pt",
             "samples.npy", "landscape.png"]


def test_spiral_smoke_run_writes_the_whole_run_folder(cli, tmp_path):
    out = tmp_path / "run"
    res = cli("spiral", "--out", str(out), *TINY)
    assert res.returncode == 0, res.stderr
    for name in RUN_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    m = json.loads((out / "metrics.json").read_text())
    for key in ("precision", "coverage", "nll", "nll_uniform", "mmd", "mmd_floor", "train_seconds"):
        assert np.isfinite(m[key]), key
    assert np.load(out / "samples.npy").shape == (200, 2)  # every sample, converged or not
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss") and len(rows) == 1 + 3
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["seed"] == 0 and config["command"] == "spiral"
    assert json.loads((out / "system.json").read_text())["torch"]
    run = load_run(out)
    assert run.energy(run.data.test[:5]).shape == (5,)
    assert run.sample(7).shape == (7, 2)
    assert "precision" in res.stdout and str(out) in res.stdout


def test_train_on_a_user_file(cli, tmp_path):
    pts = np.random.default_rng(0).normal(size=(300, 2))
    np.savetxt(tmp_path / "pts.csv", pts, delimiter=",")
    res = cli("train", "--data", str(tmp_path / "pts.csv"), "--out", str(tmp_path / "run"), *TINY)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["reference"] == "test split"


@pytest.mark.e2e
def test_an_existing_run_folder_is_not_silently_overwritten(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("spiral", "--out", str(out), *TINY).returncode == 0
    before = (out / "model.safetensors").read_bytes()
    res = cli("spiral", "--out", str(out), *TINY, "--seed", "1")
    assert res.returncode == 2 and "already exists" in res.stderr and "--overwrite" in res.stderr
    assert (out / "model.safetensors").read_bytes() == before
    assert cli("spiral", "--out", str(out), *TINY, "--seed", "1", "--overwrite").returncode == 0
    assert (out / "model.safetensors").read_bytes() != before


def test_help_lists_commands_and_options(cli):
    res = cli("--help")
    assert res.returncode == 0 and "spiral" in res.stdout and "train" in res.stdout
    res = cli("spiral", "--help")
    assert res.returncode == 0 and "--negatives" in res.stdout and "hidden units per layer" in res.stdout


def test_version_is_the_package_metadata(cli):
    res = cli("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"ebmplan {importlib.metadata.version('ebmplan')}\n"
    assert res.stdout.split()[1] == ebmplan.__version__  # pyproject reads the version from the package


@pytest.mark.parametrize("args", [["plan", "eval", "--help"], ["--help"]])
def test_output_to_a_reader_that_went_away_ends_quietly(args):
    """`ebmplan plan eval --help | head`: the reader closes the pipe before the help is written; the command
    exits 1 with nothing on stderr instead of a BrokenPipeError traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ebmplan", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # long before the child has imported ebmplan and written anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1, stderr
    assert stderr == ""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_exits_0_and_names_each_option(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert main_code([*command.split(), "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # wrapped lines joined
    assert f"ebmplan {command}" in out and COMMANDS[command].summary in out
    positional = {"sweep": "command", "plot": "runs", "maze eval": "run"}.get(command)
    for field in dataclasses.fields(COMMANDS[command].config):
        if field.name == positional:
            assert "(required)" in out or field.name.upper() in out, field.name
        else:
            assert f"--{field.name.replace('_', '-')}" in out, field.name
    for alias in COMMANDS[command].aliases:
        assert alias in out, alias


def test_maze_eval_writes_into_out(tmp_path, capsys):
    from ebmplan.plan.agent.run import MazeTrainConfig
    from ebmplan.plan.agent.training import train_agent

    run = train_agent(MazeTrainConfig(map="Spiral5x5", resize=2, width=16, n_envs=4, updates_per_collect=2,
                                      warmup=2, steps=20, log_every=10, batch_size=16, out=str(tmp_path / "agent")))
    capsys.readouterr()
    out = tmp_path / "evals" / "one"
    args = ["maze", "eval", str(run), "--episodes", "5", "--pairs", "20", "--difficulties", "0.5"]
    assert main_code([*args, "--out", str(out)]) == 0
    assert (out / "eval.json").is_file() and (out / "eval.md").is_file()
    assert not (run / "eval.json").exists() and not (run / "eval.md").exists()
    assert capsys.readouterr().out.strip() == (out / "eval.md").read_text().strip()
    assert json.loads((out / "eval.json").read_text())["config"]["run"] == str(run)
    assert main_code(args) == 0  # the default is unchanged: the agent's run folder
    assert (run / "eval.json").is_file() and (run / "eval.md").is_file()
    (tmp_path / "file").write_text("x")
    assert main_code([*args, "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["spiral", "--loss", "hinj"], "unknown loss 'hinj'"),
    (["spiral", "--width", "-4"], "--width must be at least 1"),
    (["spiral", "--depth", "0"], "--depth must be at least 1"),
    (["spiral", "--lr", "-1"], "--lr must be a positive number"),
    (["spiral", "--lr", "nan"], "--lr must be a positive number"),
    (["spiral", "--negatives", "unifrom:1"], "unknown negative kind 'unifrom'"),
    (["spiral", "--activation", "sigmoidish"], "unknown activation"),
    (["spiral", "--negatives", "mismatched"], "need a conditional task"),
    (["spiral", "--infer-schedule", "linear"], "unknown step-size schedule"),
    (["spiral", "--hard-alpha", "-1"], "--hard-alpha must be >= 0"),
    (["spiral", "--device", "tpu"], "unknown device 'tpu'"),
    (["spiral", "--device", "cudax"], "unknown device 'cudax'"),
    (["spiral", "--device", "meta"], "unknown device 'meta'"),
    (["train", "--data", "nosuchset"], "unknown data set 'nosuchset'"),
    (["train", "--data", "missing.csv"], "does not exist"),
    (["spiral", "--resume", "no/such/run"], "does not exist"),
    (["spiral", "--width", "abc"], "--width"),
    (["nosuchcommand"], "unknown command"),
    (["train", "--method", "svm"], "unknown method 'svm'; choose one of: contrastive, kmeans, pca, sparse-ae"),
    (["compare", "--methods", "pca,svm"], "unknown method 'svm'"),
    (["conditional", "--task", "moons"], "unknown task"),
    (["conditional", "--resume", "no/such/run"], "does not exist"),
    (["video", "--resume", "no/such/run"], "does not exist"),
    (["maze", "train", "--goal", "25.5", "2.5", "--map", "FourRooms"], "inside a wall"),
    (["maze", "train", "--map", "NoSuchMap"], "unknown map"),
    (["maze", "train", "--steps", "0"], "--steps must be at least 1"),
    (["maze", "train", "--resize", "0"], "--resize must be at least 1"),
    (["maze", "eval", "no/such/run"], "does not exist"),
    (["plan", "eval", "--agent", "no/such/run"], "does not exist"),
    (["plan", "eval", "--agent", "no/such/run", "--nodes", "100000"], "planning over 100000 nodes per graph needs"),
    (["sweep", "spiral", "--grid", "widht=8,16"], "has no setting 'widht'"),
    (["sweep", "spiral", "--backend", "slurm"], "unknown backend 'slurm'"),
])
def test_bad_input_exits_2_with_one_clear_sentence(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    takes_out = args[0] not in ("nosuchcommand",) and args[:2] != ["maze", "eval"]
    assert main_code([*args, "--out", "run"] if takes_out else args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or "Error parsing" in err  # one sentence, or tyro's framed one
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # nothing was trained


def test_wrong_shape_and_unwritable_outputs(tmp_path, capsys):
    np.save(tmp_path / "flat.npy", np.zeros(100))
    assert main_code(["train", "--data", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "r")]) == 2
    assert "N x D" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main_code(["spiral", "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root can write into a read-only folder
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main_code(["spiral", "--out", str(locked / "run")]) == 2
        assert "cannot be written" in capsys.readouterr().err
