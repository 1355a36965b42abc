import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("CI", "1")  # no progress bars in test output
torch.set_num_threads(1)  # small models: one thread is faster and makes results independent of the machine

TINY = ["--steps", "30", "--width", "16", "--n-samples", "200", "--hard-size", "256", "--checkpoint-every", "10",
        "--log-every", "10", "--infer-steps", "30"]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the real `ebmplan` CLI in a subprocess (single-threaded), capturing its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    return subprocess.run([sys.executable, "-m", "ebmplan", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
