"""The reliability promises of the README, each proved end to end through the real CLI."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from conftest import kill_resume_and_rerun, main_code, run_cli
from ebmplan import load_run
from ebmplan.common.errors import ConfigError
from ebmplan.common.files import load_checkpoint
from ebmplan.common.runs import restore

RUN = ["--width", "16", "--n-samples", "200", "--hard-size", "256", "--infer-steps", "30", "--log-every", "10"]
TIME_KEYS = {"train_seconds", "infer_seconds"}


def results(run):
    """Everything a run measured, less wall-clock times."""
    metrics = {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k not in TIME_KEYS}
    curve = [r.rsplit(",", 1)[0] for r in (run / "metrics.csv").read_text().splitlines()]  # drop 'seconds'
    weights = load_checkpoint(run / "checkpoint.pt")["model"]
    return metrics, curve, weights


@pytest.mark.e2e
def test_a_run_killed_mid_way_resumes_to_the_same_result(tmp_path):
    steps = ["--steps", "400", "--checkpoint-every", "50"]
    killed, whole = kill_resume_and_rerun(["spiral"], [*RUN, *steps], tmp_path, after_step=100, total=400)
    (m1, c1, w1), (m2, c2, w2) = results(killed), results(whole)
    assert m1 == m2 and c1 == c2
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One finished 10-step spiral run (made in process); each test damages its own copy (`run`)."""
    run = tmp_path_factory.mktemp("short") / "run"
    assert main_code(["spiral", "--out", str(run), *RUN, "--steps", "10"]) == 0
    return run


@pytest.fixture
def run(short_run, tmp_path):
    return Path(shutil.copytree(short_run, tmp_path / "run"))


def test_a_crafted_checkpoint_is_refused_and_never_runs_code(tmp_path, run):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"version": 1, "model": Exploit()}, run / "checkpoint.pt")
    res = run_cli("spiral", "--resume", str(run))
    assert res.returncode == 2 and "cannot be loaded safely" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "cannot be loaded safely"),
    (lambda p: p.write_bytes(b"\x00garbage" * 100), "cannot be loaded safely"),
    (lambda p: torch.save({"version": 99}, p), "format version 99"),
])
def test_damaged_checkpoints_give_one_sentence(run, damage, message, capsys):
    damage(run / "checkpoint.pt")
    assert main_code(["spiral", "--resume", str(run)]) == 2  # in process; the crafted one above goes through the CLI
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_corrupted_weights_fail_to_load_clearly(run):
    (run / "model.safetensors").write_bytes(b"{}")
    with pytest.raises(ConfigError, match="corrupted"):
        load_run(run)


def test_divergence_stops_training_and_keeps_a_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    code = main_code(["spiral", "--out", str(run), *RUN, "--steps", "500", "--checkpoint-every", "1", "--lr", "1e6",
                      "--grad-clip", "0", "--loss", "cd", "--l2", "0"])  # in process
    err = capsys.readouterr().err
    assert code == 1
    assert "training diverged at step" in err and "--lr" in err and "Traceback" not in err
    state = load_checkpoint(run / "checkpoint.pt")  # the last good one loads ...
    assert all(torch.isfinite(v).all() for v in state["model"].values())  # ... and is finite
    assert torch.isfinite(load_run(run).energy(torch.zeros(3, 2))).all()
    assert not (run / "metrics.json").exists()


class _Trainer:
    """The part of every trainer that `restore` uses: a state dict holding its model's."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])


def test_a_checkpoint_of_another_run_is_refused_in_one_sentence(tmp_path):
    # What a resumed trainer does with a checkpoint whose state does not fit it (another model's weights, a
    # state without its clocks): one ConfigError naming the file and the mismatch, never a traceback.
    trainer = _Trainer(torch.nn.Linear(2, 3))
    other = {"weight": torch.zeros(4, 2), "bias": torch.zeros(4)}
    for state, why in (({"model": other}, "size mismatch for weight"),
                       ({"model": trainer.model.state_dict()}, "no 'train_seconds'")):
        with pytest.raises(ConfigError) as err:
            restore(trainer, state, tmp_path / "checkpoint.pt")
        message = str(err.value)
        assert "checkpoint.pt does not fit this run" in message and why in message and "\n" not in message
    state = {"model": {k: v + 1 for k, v in trainer.model.state_dict().items()}, "train_seconds": 2, "cpu_seconds": 3}
    assert restore(trainer, state, tmp_path) == (2.0, 3.0)
    assert torch.equal(trainer.model.bias, state["model"]["bias"])
