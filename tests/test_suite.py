"""`ebmplan suite`: the default recipe over the 2D suite's sets and seeds, one table and one figure; the bounds
it checks; and point files that are too small, duplicated, constant or spread over wildly different scales."""

import csv

import numpy as np
import pytest

from conftest import TINY, main_code, run_cli
from ebmplan.experiments.suite import SuiteConfig, misses
from ebmplan.points.shapes import SUITE

SETTINGS = [item for key, value in zip(TINY[::2], TINY[1::2], strict=True)
            for item in ("--set", f"{key[2:].replace('-', '_')}={value}")]


def test_suite_writes_one_table_and_one_figure_and_skips_complete_runs_when_run_again(tmp_path):
    out = tmp_path / "suite"
    args = ["suite", "--data", "moons", "8gaussians", "checkerboard", "--seeds", "0", *SETTINGS, "--workers", "2",
            "--out", str(out)]
    first = run_cli(*args, timeout=600)
    assert first.returncode == 0, first.stderr
    rows = list(csv.DictReader((out / "suite.csv").open()))
    assert [r["set"] for r in rows] == ["moons", "8gaussians", "checkerboard"]
    assert [r["quality"] for r in rows] == ["precision", "high_quality", "in_support"]
    assert [r["coverage"] for r in rows] == ["coverage", "modes_covered", "cells_hit"]
    assert all(float(r["nll_generator"]) < float(r["nll"]) for r in rows)  # a 30-step model is no floor
    table = (out / "suite.md").read_text()
    assert "| moons (curve) |" in table and "modes" in table and "bounds missed" in table
    assert (out / "suite.png").stat().st_size > 20_000
    again = run_cli(*args, timeout=600)
    assert again.returncode == 0 and "3 already complete, 0 to run" in again.stdout


def test_all_is_the_suite_and_the_spiral():
    assert SuiteConfig().sets() == ["spiral", *SUITE]
    assert len(SUITE) == 9


def test_a_bad_set_name_exits_2_in_one_sentence(capsys):
    assert main_code(["suite", "--data", "moon"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'moon' is not a named 2D set" in err and len(err.splitlines()) == 1


def run_row(data, **metrics):
    base = {"data": data, "nll": 2.0, "nll_kde": 2.1, "nll_generator": 1.95}
    return {**base, **metrics}


@pytest.mark.parametrize("row, expected", [
    (run_row("moons", precision=0.02, coverage=0.95), []),
    (run_row("moons", precision=0.06, coverage=0.85), ["precision 0.06 > 0.05", "coverage 0.85 < 0.9"]),
    (run_row("8gaussians", high_quality=0.95, modes_covered=7.0, modes=8.0), ["modes 7/8"]),
    (run_row("checkerboard", in_support=0.95, cells_hit=0.8), ["cells_hit 0.8 < 0.9"]),
    (run_row("moons", precision=0.02, coverage=0.95, nll=2.2), ["nll 2.200 > kde 2.100", "nll gap 0.25 > 0.1"]),
])
def test_bounds_are_checked_per_family(row, expected):
    assert misses(row) == expected


# ------------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("points, message", [
    (np.random.default_rng(0).normal(size=(30, 2)), "has 30 points; at least 50 are needed"),
    (np.repeat(np.random.default_rng(0).normal(size=(5, 2)), 40, axis=0), "only 5 distinct ones"),
    (np.c_[np.random.default_rng(0).normal(size=(80, 1)), np.full(80, 3.0)], "column 2 of data file"),
])
def test_unusable_point_files_are_refused_in_one_sentence(tmp_path, capsys, points, message):
    path = tmp_path / "pts.csv"
    np.savetxt(path, points, delimiter=",")
    assert main_code(["train", "--data", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.e2e
def test_wildly_different_scales_train_and_samples_come_back_in_the_data_units(tmp_path):
    from ebmplan.points.shapes import spiral

    points = spiral(np.random.default_rng(0), 700, 0.05) * np.array([1e-3, 1e4])
    np.savetxt(tmp_path / "pts.csv", points, delimiter=",")
    res = run_cli("train", "--data", str(tmp_path / "pts.csv"), *TINY, "--out", str(tmp_path / "run"))
    assert res.returncode == 0, res.stderr
    samples = np.load(tmp_path / "run" / "samples.npy")
    span = points.max(0) - points.min(0)
    assert (samples.min(0) >= points.min(0) - 0.2 * span).all() and (samples.max(0) <= points.max(0) + 0.2 * span).all()
    assert samples.std(0) / points.std(0) == pytest.approx([1, 1], rel=0.6)  # both columns used, at their scale
