import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

os.environ.setdefault("CI", "1")  # no progress bars in test output
torch.set_num_threads(1)  # small models: one thread is faster and makes results independent of the machine

TINY = ["--steps", "30", "--width", "16", "--n-samples", "200", "--hard-size", "256", "--checkpoint-every", "10",
        "--log-every", "10", "--infer-steps", "30"]
CONDITIONAL_TINY = ["--steps", "20", "--width", "16", "--batch-size", "32", "--n-eval", "8", "--starts", "4",
                    "--latent-samples", "2", "--latent-starts", "2", "--infer-steps", "20", "--hard-size", "256"]
VIDEO_TINY = ["--n-train", "12", "--n-test", "3", "--length", "8", "--rollout", "3", "--steps", "20", "--width", "32",
              "--n-eval", "8", "--infer-steps", "5"]
MAZE_TINY = ["--map", "FourRooms", "--resize", "2", "--steps", "200", "--log-every", "100"]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `ebmplan` CLI in a subprocess (single-threaded), capturing its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    return subprocess.run([sys.executable, "-m", "ebmplan", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def main_code(args: list[str]) -> int:
    """The CLI entry point in-process, for checks of bad input that stop before any work (tyro exits by
    SystemExit on a parse error)."""
    from ebmplan.cli import main

    try:
        return main(args)
    except SystemExit as stop:
        return stop.code


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def maze_agent(tmp_path_factory) -> Path:
    """One tiny agent, `ebmplan maze train` with MAZE_TINY (seed 0) by the CLI's entry point in process, trained
    once per session and shared by every test that needs *a* trained agent and writes nothing into its folder.
    Named `a0`: some tests match the agent's seed in the folder name of their messages."""
    run = tmp_path_factory.mktemp("maze-agent") / "a0"
    assert main_code(["maze", "train", *MAZE_TINY, "--out", str(run)]) == 0
    return run


def kill_mid_way(args: list[str], run: Path, *, after_step: int, total: int, timeout: float = 300) -> int:
    """Start `ebmplan *args` writing to `run`, SIGKILL it once a checkpoint at `after_step` or later exists,
    and return the checkpointed step (asserting the run was really cut short)."""
    from ebmplan.common.errors import ConfigError
    from ebmplan.common.files import load_checkpoint

    def checkpointed_step() -> int:
        try:
            return load_checkpoint(run / "checkpoint.pt")["step"]
        except ConfigError:  # not written yet
            return 0

    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ebmplan", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while checkpointed_step() < after_step and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = checkpointed_step()
    assert after_step <= step < total, "the run was not killed mid-way"
    assert not (run / "metrics.json").exists()
    return step


def kill_resume_and_rerun(command: list[str], args: list[str], tmp_path: Path, *, after_step: int, total: int,
                          timeout: float = 300) -> tuple[Path, Path]:
    """`ebmplan *command --out killed *args` killed mid-way (see `kill_mid_way`) and resumed with `--resume`,
    and the same run uninterrupted in `whole`: -> (killed, whole), both finished."""
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    kill_mid_way([*command, "--out", str(killed), *args], killed, after_step=after_step, total=total,
                 timeout=timeout)
    resumed = run_cli(*command, "--resume", str(killed), timeout=timeout)
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = run_cli(*command, "--out", str(whole), *args, timeout=timeout)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    return killed, whole


def untimed_metrics(run: Path) -> dict:
    """A run's metrics.json without its wall-clock entries (keys ending in `seconds`): what a resumed run must
    reproduce exactly."""
    def untimed(obj):
        if isinstance(obj, dict):
            return {k: untimed(v) for k, v in obj.items() if not k.endswith("seconds")}
        return obj

    return untimed(json.loads((run / "metrics.json").read_text()))


@pytest.fixture(scope="session")
def small_agent(tmp_path_factory) -> Path:
    """`ebmplan maze train --map FourRooms --resize 2 --steps 1000`, in process, once per session: small (its
    distances are long: a graph needs an edge cutoff of about 15); the playground's tests, API and browser, plan
    with it."""
    from ebmplan.plan.agent.run import MazeTrainConfig
    from ebmplan.plan.agent.training import train_agent

    out = tmp_path_factory.mktemp("agents") / "fourrooms-x2"
    return train_agent(MazeTrainConfig(map="FourRooms", resize=2, steps=1000, log_every=100, out=str(out)))
