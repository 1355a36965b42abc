import json

import numpy as np
import pytest
import torch

from ebmplan.common.files import load_checkpoint
from ebmplan.points.train import TrainConfig, train

TIME_KEYS = {"train_seconds", "infer_seconds"}


def tiny(out, **kw):
    base = dict(out=str(out), steps=40, width=16, n_samples=200, hard_size=256, checkpoint_every=20, log_every=10,
                infer_steps=30)
    return TrainConfig(**{**base, **kw})


def metrics_without_time(run):
    return {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k not in TIME_KEYS}


def test_one_seed_gives_one_result(tmp_path):
    a = train(tiny(tmp_path / "a"))
    b = train(tiny(tmp_path / "b"))
    assert metrics_without_time(a) == metrics_without_time(b)
    wa, wb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(tiny(tmp_path / "c", seed=1))
    assert metrics_without_time(c) != metrics_without_time(a)


@pytest.mark.e2e
def test_every_loss_and_negative_kind_trains(tmp_path):
    for i, (loss, negs) in enumerate([("margin", "uniform"), ("hinge", "perturb"), ("square-square", "hard"),
                                      ("square-exp", "uniform:1,model:1"), ("infonce", "uniform"),
                                      ("cd", "model")]):
        run = train(tiny(tmp_path / str(i), steps=10, loss=loss, negatives=negs))
        assert json.loads((run / "metrics.json").read_text())["steps"] == 10


def test_training_lowers_the_loss_and_separates_energies(tmp_path):
    run = train(tiny(tmp_path / "r", steps=300, width=32))
    rows = [r.split(",") for r in (run / "metrics.csv").read_text().splitlines()[1:]]
    first, last = rows[0], rows[-1]
    assert float(last[1]) < float(first[1])  # loss
    assert float(last[4]) > float(first[4]) and float(last[4]) > 0  # energy gap: negatives above positives


def test_early_stopping_keeps_the_best_model_and_stops_before_the_maximum(tmp_path):
    run = train(tiny(tmp_path / "r", steps=2000, patience=2, min_steps=0, log_every=10, lr=3e-2))
    m = json.loads((run / "metrics.json").read_text())
    rows = [r.split(",") for r in (run / "metrics.csv").read_text().splitlines()[1:]]
    val = {int(r[0]): float(r[5]) for r in rows}
    assert m["steps"] < 2000 and m["steps"] == max(val)  # stopped after two checks without improvement
    assert m["best_step"] == min(val, key=val.get) or val[m["best_step"]] <= min(val.values()) + 0.01
    kept = load_checkpoint(run / "checkpoint.pt")["best"]
    assert kept["step"] == m["best_step"] and kept["stopped"]


def test_no_early_stop_before_min_steps(tmp_path):
    run = train(tiny(tmp_path / "r", steps=2000, patience=1, min_steps=150, log_every=10, lr=3e-2))
    assert json.loads((run / "metrics.json").read_text())["steps"] >= 150


def test_patience_0_trains_every_step_and_keeps_the_last_model(tmp_path):
    run = train(tiny(tmp_path / "r", steps=30, patience=0))
    m = json.loads((run / "metrics.json").read_text())
    assert m["steps"] == m["best_step"] == 30


def test_standardised_training_does_not_depend_on_the_data_units(tmp_path):
    from ebmplan.points.shapes import spiral

    points = spiral(np.random.default_rng(0), 700, 0.05)
    for name, scale in (("unit", 1.0), ("big", 1000.0)):
        np.savetxt(tmp_path / f"{name}.csv", points * scale, delimiter=",")
    options = dict(negatives="uniform:0.5,perturb:0.5", steps=40, patience=0)  # no hard buffer: no ties to break
    unit = train(tiny(tmp_path / "a", data=str(tmp_path / "unit.csv"), **options))
    big = train(tiny(tmp_path / "b", data=str(tmp_path / "big.csv"), **options))
    a, b = np.load(unit / "samples.npy"), np.load(big / "samples.npy")
    assert np.allclose(b / 1000.0, a, atol=1e-3)  # the same samples, mapped back to each file's units
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (unit, big))
    assert mb["nll"] - ma["nll"] == pytest.approx(2 * np.log(1000.0), abs=1e-3)  # densities scale by 1/1000^2


def test_a_run_folder_of_another_config_version_is_refused_in_one_sentence(tmp_path, capsys):
    from conftest import main_code
    from ebmplan import load_run
    from ebmplan.common.errors import ConfigError
    from ebmplan.common.runs import CONFIG_VERSION

    run = train(tiny(tmp_path / "r", standardise=False, patience=0))
    saved = json.loads((run / "config.json").read_text())
    assert saved["version"] == CONFIG_VERSION
    loaded = load_run(run)  # a current folder loads as it was trained
    assert not loaded.config.standardise and loaded.config.patience == 0 and loaded.energy is loaded.model
    for version, found in ((None, "none"), (CONFIG_VERSION - 1, str(CONFIG_VERSION - 1))):
        older = {k: v for k, v in saved.items() if k != "version"} if version is None else {**saved,
                                                                                           "version": version}
        (run / "config.json").write_text(json.dumps(older))
        expected = f"config version {found} and this ebmplan reads version {CONFIG_VERSION} only"
        with pytest.raises(ConfigError, match=expected):
            load_run(run)
        assert main_code(["spiral", "--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err
