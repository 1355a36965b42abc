"""Progress bars (only at a terminal, never in CI) and the optional TensorBoard copy of metrics.csv."""

import csv
import io
import os
import subprocess
import sys

import pytest

from conftest import CONDITIONAL_TINY, MAZE_TINY, TINY, VIDEO_TINY, main_code, run_cli
from ebmplan.common.monitor import ScalarLog, progress, progress_enabled

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TRAINERS = {
    "spiral": (["spiral"], TINY),
    "conditional": (["conditional"], CONDITIONAL_TINY),
    "video": (["video"], [*VIDEO_TINY, "--ablation", "uniform", "--ablation-seconds", "0.3", "--no-single-frame"]),
    "maze": (["maze", "train"], MAZE_TINY),
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_helper_shows_a_bar_at_a_terminal_only(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = Terminal()
    assert progress_enabled(stream)
    assert list(progress(range(5), desc="work", stream=stream)) == list(range(5))
    assert "work" in stream.getvalue() and "5/5" in stream.getvalue()

    pipe = io.StringIO()  # not a terminal
    assert not progress_enabled(pipe)
    list(progress(range(5), desc="work", stream=pipe))
    assert pipe.getvalue() == ""

    monkeypatch.setenv("CI", "1")  # a terminal, but in CI
    quiet = Terminal()
    assert not progress_enabled(quiet)
    list(progress(range(5), desc="work", stream=quiet))
    assert quiet.getvalue() == ""


@pytest.mark.e2e  # a second spiral run through the CLI (test_cli has make test's)
def test_a_run_writing_to_a_pipe_prints_no_progress_bar(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # not CI: only the pipe keeps the bar away
    done = subprocess.run([sys.executable, "-m", "ebmplan", "spiral", "--out", str(tmp_path / "r"), *TINY],
                          capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "it/s" not in done.stderr + done.stdout and "%|" not in done.stderr + done.stdout
    assert "train spiral" not in done.stderr


def tensorboard_scalars(run) -> dict[tuple[str, int], float]:
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {(tag, e.step): e.value for tag in events.Tags()["scalars"] for e in events.Scalars(tag)}


def csv_scalars(run) -> dict[tuple[str, int], float]:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    out = {}
    for row in rows:
        model = row.pop("model", None)
        step = int(row.pop("step"))
        for name, value in row.items():
            out[(f"{model}/{name}" if model else name, step)] = float(value)
    return out


# video's run is also `make test`'s tiny run of `ebmplan video` through the CLI; the other trainers' copies run in
# make test-e2e (their commands' tiny runs are in test_cli, test_conditional and test_agent).
@pytest.mark.parametrize("trainer", [t if t == "video" else pytest.param(t, marks=pytest.mark.e2e) for t in TRAINERS])
def test_tensorboard_holds_the_scalars_of_metrics_csv(trainer, tmp_path):
    command, args = TRAINERS[trainer]
    run = tmp_path / trainer
    done = run_cli(*command, "--out", str(run), *args, "--tensorboard")
    assert done.returncode == 0, done.stderr
    expected, written = csv_scalars(run), tensorboard_scalars(run)
    assert len(expected) >= 2 and set(written) == set(expected)
    for key, value in expected.items():
        assert written[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key  # TensorBoard keeps float32


def test_without_the_flag_there_is_no_tensorboard_folder(tmp_path):
    log = ScalarLog(tmp_path, ["loss"])
    log.write(1, {"loss": 0.5})
    log.close()
    assert (tmp_path / "metrics.csv").read_text() == "step,loss\n1,0.5\n"
    assert not (tmp_path / "tensorboard").exists()


def test_scalar_log_rows_name_their_model_and_resume_keeps_finished_ones(tmp_path):
    log = ScalarLog(tmp_path, ["loss", "seconds"], models=True)
    log.write(100, {"loss": 1.25, "seconds": "0.500"}, model="a")
    log.write(100, {"loss": 2, "seconds": "0.700"}, model="b")
    with pytest.raises(ValueError):
        log.write(1, {"loss": 1.0, "seconds": "1"}, model="x,y")
    with pytest.raises(ValueError):
        log.write(1, {"seconds": "1"}, model="a")
    ScalarLog(tmp_path, ["loss", "seconds"], models=True, keep_models={"a"})
    assert (tmp_path / "metrics.csv").read_text() == "model,step,loss,seconds\na,100,1.25,0.500\n"


@pytest.mark.parametrize("trainer", TRAINERS)
def test_tensorboard_missing_is_one_clear_error_before_work(trainer, tmp_path, monkeypatch, capsys):
    command, args = TRAINERS[trainer]
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith(("tensorboard.",
                                                                                 "torch.utils.tensorboard"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = tmp_path / "run"
    assert main_code([*command, "--out", str(out), *args, "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "tensorboard" in err and "not installed" in err
    assert not out.exists() or not any(out.iterdir())
