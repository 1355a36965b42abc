"""Memory: a run that cannot fit is refused in one sentence before it starts; a normal one never is."""

import pytest

from conftest import main_code
from ebmplan.common.errors import ConfigError
from ebmplan.common.resources import available_memory, check_memory, format_bytes
from ebmplan.conditional import ConditionalConfig
from ebmplan.plan.agent.run import MazeTrainConfig
from ebmplan.points.train_config import TrainConfig
from ebmplan.video import VideoConfig


@pytest.mark.parametrize("command", [["spiral"], ["conditional"], ["video"], ["maze", "train"]])
def test_absurd_width_is_refused_before_the_run_starts(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # in process (a run started by mistake would fail to allocate, not hang)
    assert main_code([*command, "--width", "100000000"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "width-100000000" in lines[0] and "available" in lines[0], lines[0]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no run folder (runs/<command>-<time>) was made


def test_default_configs_need_well_under_a_gigabyte():
    # Most of the energy trainer's ~0.6 GB is evaluation's MMD (float64 kernels over 4000 points).
    for config in (TrainConfig(data="spiral"), ConditionalConfig(), VideoConfig(), MazeTrainConfig()):
        assert config.memory_needed() < 1e9, type(config).__name__
    assert TrainConfig(data="spiral", width=100_000_000).memory_needed() > 1e15


def test_plan_eval_needs_its_largest_graph():
    """Per-episode graphs are bounded by --max-memory (at least one episode's); a shared one grows as nodes^2."""
    from ebmplan.plan.eval.protocol import PlanEvalConfig

    default = PlanEvalConfig(agent=("run",))  # every source, up to 1000 nodes, 1000 episodes
    assert default.memory_needed() < 2.5e9
    assert PlanEvalConfig(agent=("run",), max_memory=0.5).memory_needed() < 0.7e9
    assert PlanEvalConfig(agent=("run",), sources=("uniform",), nodes=(100_000,)).memory_needed() > 1e11
    one_episode = PlanEvalConfig(agent=("run",), sources=("ebm",), nodes=(30_000,), max_memory=1e-9)
    assert one_episode.memory_needed() > 9e10  # never less than one episode's graph


def test_check_memory_raises_only_above_what_is_available():
    available = available_memory()
    if available is None:
        pytest.skip("this system does not say how much memory it has")
    assert available > 0
    check_memory(1, "a tiny job", "nothing to do")
    with pytest.raises(ConfigError, match="a width-7 network needs about .* use a smaller --width"):
        check_memory(available + 10**9, "a width-7 network", "use a smaller --width")


def test_format_bytes():
    assert format_bytes(554e6) == "554 MB"
    assert format_bytes(1.23e9) == "1.2 GB"
    assert format_bytes(4.8e17) == "480 PB"
