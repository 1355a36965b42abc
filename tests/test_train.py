import json

import torch

from ebmplan.files import load_checkpoint
from ebmplan.train import TrainConfig, train

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
