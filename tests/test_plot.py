"""Figures: `ebmplan plot` (training curves of run folders) and the colour bars of energy landscapes."""

import struct
from pathlib import Path

import pytest

from conftest import TINY, main_code, run_cli


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, read from the PNG's header."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny real energy runs on moons, made by the CLI's entry point (in process: no interpreter to start)."""
    root = tmp_path_factory.mktemp("runs")
    runs = (root / "moons-a", root / "moons-b")
    for seed, run in enumerate(runs):
        assert main_code(["train", "--data", "moons", *TINY, "--seed", str(seed), "--out", str(run)]) == 0
    return runs


def test_plot_draws_every_metric_of_several_runs(two_runs, tmp_path):
    out = tmp_path / "figs" / "curves.png"  # its folder is made
    res = run_cli("plot", *map(str, two_runs), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "loss, energy_pos, energy_neg, energy_gap, val_nll of 2 runs" in res.stdout
    # 5 panels, 3 to a row: 2 rows of 4.4 x 3.2 inches at 110 dpi
    assert png_size(out) == (round(3 * 4.4 * 110), round(2 * 3.2 * 110))


def test_plot_chosen_metrics_and_labels(two_runs, tmp_path, capsys):
    from ebmplan.experiments.curves import draw_curves, read_curves

    out = tmp_path / "gap.png"
    assert main_code(["plot", *map(str, two_runs), "--metrics", "loss,gap", "--out", str(out)]) == 0
    assert "loss, energy_gap of 2 runs" in capsys.readouterr().out
    assert png_size(out) == (round(2 * 4.4 * 110), round(3.2 * 110))
    runs = [c for r in two_runs for c in read_curves(r)]
    fig = draw_curves(runs, ["loss"])
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["moons-a", "moons-b"]
    assert list(ax.get_lines()[0].get_xdata()) == [10.0, 20.0, 30.0]  # x = step, one point per logged row


def test_plot_bad_inputs_exit_2_with_one_sentence(two_runs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    maze = tmp_path / "maze-agent"  # a maze agent's log: no metric in common with an energy run's but the clock
    maze.mkdir()
    (maze / "metrics.csv").write_text("step,critic_loss,actor_loss,seconds\n100,2.5,1.0,3.0\n")
    run = str(two_runs[0])
    cases = [
        ([str(empty)], "has no metrics.csv"),
        ([str(tmp_path / "missing")], "does not exist"),
        ([run, "--metrics", "loss,nosuch"], "'nosuch' is not a metric of every run; choose from: loss, energy_pos"),
        ([run, "--metrics", "energy"], "'energy' is not a metric"),
        ([str(maze), "--metrics", "loss"], "'loss' is ambiguous; choose from: critic_loss, actor_loss"),
        ([run, str(maze)], "have no metric in common"),
        ([run, "--out", str(tmp_path / "curves.txt")], "must end in a figure type"),
        ([], "give at least one run folder"),
    ]
    for args, message in cases:
        assert main_code(["plot", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not list(tmp_path.rglob("*.png")) and not list(tmp_path.rglob("*.txt"))  # nothing was drawn


def test_plot_points_at_the_sub_runs_of_a_folder(two_runs, capsys):
    assert main_code(["plot", str(two_runs[0].parent)]) == 2
    assert "its sub-folders do: give those, e.g." in capsys.readouterr().err


def colour_bars(fig) -> list:
    return [ax for ax in fig.axes if ax.get_ylabel() == "energy"]


def test_landscape_figures_have_energy_colour_bars(two_runs):
    from ebmplan.experiments.capacity import landscapes_figure
    from ebmplan.experiments.compare import compare_figure
    from ebmplan.experiments.sweep import SweepResult
    from ebmplan.points.plots import landscape_figure, plt
    from ebmplan.points.train import load_energy_run

    run = load_energy_run(two_runs[0])
    fig = landscape_figure(run.energy, run.data.low, run.data.high, data=run.data.train)
    assert len(fig.axes) == 3 and len(colour_bars(fig)) == 1  # two panels on one scale: one shared bar
    plt.close(fig)
    # compare: a panel per method, each on its own scale
    fig = compare_figure(two_runs[0].parent, [r.name for r in two_runs])
    assert len(fig.axes) == 4 and len(colour_bars(fig)) == 2
    plt.close(fig)
    # capacity: a panel per width, each with its bar; a failed width has none
    rows = [{"width": 8, "seed": 0, "status": "ok", "run": two_runs[0].name, "precision": 0.1, "coverage": 0.5},
            {"width": 16, "seed": 0, "status": "failed", "run": "x", "error": "diverged at step 3"}]
    fig = landscapes_figure(SweepResult(two_runs[0].parent, ["width"], rows, 0.0), 0)
    assert len(fig.axes) == 3 and len(colour_bars(fig)) == 1
    plt.close(fig)


def test_a_runs_landscape_png_is_drawn_with_its_colour_bar(two_runs):
    # the colour bar widens landscape.png from 9 to 9.6 inches (at 110 dpi)
    assert png_size(two_runs[0] / "landscape.png") == (round(9.6 * 110), round(4.6 * 110))


def test_plot_draws_each_model_of_a_several_model_log(two_runs, tmp_path, capsys):
    # conditional and video runs log several models in one metrics.csv: `model,step,...`
    cond = tmp_path / "cond"
    cond.mkdir()
    (cond / "metrics.csv").write_text("model,step,loss,seconds\nconditional,10,0.7,0.1\nconditional,20,0.6,0.2\n"
                                      "regressor,10,0.5,0.1\nregressor,20\n")  # a row cut short is skipped
    out = tmp_path / "cond.png"
    assert main_code(["plot", str(cond), str(two_runs[0]), "--out", str(out)]) == 0
    assert "loss of 2 runs" in capsys.readouterr().out and out.is_file()
    from ebmplan.experiments.curves import read_curves

    lines = read_curves(cond)
    assert [(c.name, c.columns["step"], c.columns["loss"]) for c in lines] == [
        ("cond: conditional", [10.0, 20.0], [0.7, 0.6]), ("cond: regressor", [10.0], [0.5])]
