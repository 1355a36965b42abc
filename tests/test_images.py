"""`ebmplan images train`: the run folder, resume, seeding, bad input, and the Fréchet distance."""

import json

import numpy as np
import pytest
import torch

from conftest import kill_resume_and_rerun, main_code, run_cli, untimed_metrics
from ebmplan.common.runs import load_run
from ebmplan.images.data import animals, load_images
from ebmplan.images.metrics import auroc, frechet

# A handful of images and steps: seconds, not minutes.
TINY = ["--steps", "6", "--batch-size", "16", "--buffer-size", "64", "--langevin-steps", "3", "--sample-steps", "3",
        "--width", "16", "--depth", "2", "--checkpoint-every", "2", "--log-every", "2",
        "--classifier-steps", "100"]


def test_the_run_folder_holds_what_it_promises(tmp_path):
    out = tmp_path / "run"
    done = run_cli("images", "train", "--out", str(out), *TINY)
    assert done.returncode == 0, done.stderr
    for name in ("config.json", "system.json", "metrics.csv", "metrics.json", "checkpoint.pt", "model.safetensors",
                 "classifier.safetensors", "samples.png", "energies.png"):
        assert (out / name).is_file(), name
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,loss,energy_pos,energy_neg,seconds,cpu_seconds" and len(rows) == 1 + 3
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 6 and m["train_cpu_seconds"] > 0
    assert 0.3 < m["classifier_test_accuracy"] <= 1
    assert m["frechet_floor_train_vs_test"] < m["frechet_gaussian_fit"]
    for name in ("buffer", "fresh"):
        assert m[f"{name}_frechet"] > 0 and 0 <= m[f"{name}_confident_share"] <= 1
        assert 1 <= m[f"{name}_classes_covered"] <= 10 and len(m[f"{name}_class_shares"]) == 10
    assert 0 <= m["auroc_animals"] <= 1 and 0 <= m["auroc_noise"] <= 1
    assert "Fréchet" in done.stdout and "AUROC" in done.stdout
    run = load_run(out)
    assert run.sample(5).shape == (5, 8, 8)


def test_one_seed_gives_one_result_and_another_seed_another(tmp_path):
    args = ["images", "train", *TINY, "--steps", "4"]
    runs = [tmp_path / name for name in ("a", "b", "c")]
    for path, seed in zip(runs, ("3", "3", "4"), strict=True):
        assert run_cli(*args, "--out", str(path), "--seed", seed).returncode == 0
    a, b, c = (untimed_metrics(p) for p in runs)
    assert a == b
    assert a != c


@pytest.mark.e2e  # kill-and-resume: make test-e2e
def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    # Slow enough per step (more Langevin steps) that the kill lands between checkpoints.
    args = [*TINY, "--steps", "60", "--langevin-steps", "40", "--checkpoint-every", "5", "--log-every", "5"]
    killed, whole = kill_resume_and_rerun(["images", "train"], args, tmp_path, after_step=5, total=60)
    assert untimed_metrics(killed) == untimed_metrics(whole)
    drop_time = [",".join(r.split(",")[:4]) for r in (killed / "metrics.csv").read_text().splitlines()]
    assert drop_time == [",".join(r.split(",")[:4]) for r in (whole / "metrics.csv").read_text().splitlines()]


def test_a_malformed_npy_is_refused_in_one_sentence(tmp_path):
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((20, 64)))  # N x D, not N x H x W
    done = run_cli("images", "train", "--data", str(flat), "--out", str(tmp_path / "run"), *TINY)
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "N x H x W" in line and "(20, 64)" in line
    assert not (tmp_path / "run").exists()
    assert main_code(["images", "train", "--data", "nowhere"]) == 2


def test_user_images_train_without_labels_and_with_hard_negatives(tmp_path):
    images = np.random.default_rng(0).random((30, 6, 6))
    np.save(tmp_path / "mine.npy", images)
    done = run_cli("images", "train", "--data", str(tmp_path / "mine.npy"), "--out", str(tmp_path / "run"), *TINY,
                   "--negatives", "model:0.5,hard:0.5", "--n-negatives", "2")
    assert done.returncode == 0, done.stderr
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "fresh_pixel_frechet" in m and "auroc_animals" in m


def test_frechet_of_a_set_against_itself_is_zero_and_against_noise_large():
    digits = load_images("digits", seed=0)
    x = digits.train.reshape(len(digits.train), -1).numpy()
    noise = np.random.default_rng(0).random(x.shape)
    assert abs(frechet(x, x)) < 1e-6
    assert frechet(x, noise) > 30 * max(frechet(x[: len(x) // 2], x[len(x) // 2:]), 1e-3)


def test_splits_are_disjoint_and_scaled():
    d = load_images("digits", seed=1)
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    assert d.train.min() >= 0 and d.train.max() <= 1
    flat = {tuple(r) for r in d.test.reshape(len(d.test), -1).tolist()}
    assert d.test.shape[1:] == (8, 8) and len(flat) > 300
    assert animals((8, 8), 10).shape == (10, 8, 8)


def test_auroc_counts_ties_half():
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])) == 0.5
    assert auroc(torch.tensor([3.0]), torch.tensor([0.0])) == 0.0


def test_the_baselines_are_scored_like_the_energy(tmp_path):
    out = tmp_path / "baselines"
    done = run_cli("images", "baselines", "--steps", "5", "--classifier-steps", "50", "--out", str(out))
    assert done.returncode == 0, done.stderr
    m = json.loads((out / "metrics.json").read_text())
    for name in ("vae", "gan", "gaussian", "copy"):
        assert m[name]["frechet"] > 0 and 1 <= m[name]["classes_covered"] <= 10
    assert (out / "samples.png").is_file() and (out / "classifier.safetensors").is_file()
    np.save(tmp_path / "mine.npy", np.random.default_rng(0).random((30, 6, 6)))
    assert main_code(["images", "baselines", "--data", str(tmp_path / "mine.npy"), "--out", str(tmp_path / "x")]) == 2
