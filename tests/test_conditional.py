"""Conditional and latent-variable energies: pair negatives, multi-start prediction, the spiral task."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import CONDITIONAL_TINY, kill_resume_and_rerun, main_code, untimed_metrics
from ebmplan import load_run
from ebmplan.common.errors import ConfigError, Divergence
from ebmplan.conditional import (
    KINDS,
    VIEWS,
    ConditionalConfig,
    ConditionalRun,
    branches_at,
    build_models,
    run_conditional,
    score,
    spiral_pairs,
    train_model,
)
from ebmplan.energy.latent import LatentEnergy, latent_energies, predict_latent
from ebmplan.energy.losses import make_loss
from ebmplan.energy.models import EnergyModel, FiLMEnergy
from ebmplan.energy.negatives import HardBuffer, Mismatched, parse_negatives
from ebmplan.energy.predict import predict


class TwoWells(EnergyModel):
    """F(y | c) = ((y - c)^2 - 1)^2: two minima per context, at c - 1 and c + 1."""

    dim, context_dim = 1, 1

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # a parameter so device lookups work

    def forward(self, y, context=None):
        return ((y - context).pow(2) - 1).pow(2).sum(-1) + 0 * self.dummy


class Bowl(EnergyModel):
    """F(y | c) = 10 (y - c)^2: low energy only near y = c."""

    dim, context_dim = 1, 1

    def forward(self, y, context=None):
        return 10 * (y - context).pow(2).sum(-1)


def test_mismatched_never_pairs_a_row_with_its_own_y():
    torch.manual_seed(0)
    pos = torch.arange(32.0)[:, None]  # distinct y per row
    neg = Mismatched().sample(pos, 50, Bowl(), context=pos)  # [B, n, 1]
    assert neg.shape == (32, 50, 1)
    assert not (neg[..., 0] == pos).any()
    assert len(neg.unique()) > 16  # drawn from many other rows, not one


def test_mismatched_needs_a_context():
    with pytest.raises(ConfigError, match="conditional"):
        Mismatched().sample(torch.zeros(4, 1), 2, Bowl(), context=None)


def test_hard_buffer_prefers_negatives_of_low_energy_under_each_rows_own_context():
    torch.manual_seed(0)
    box = (torch.tensor([-2.0]), torch.tensor([2.0]))
    buffer = HardBuffer(box, size=4000, pool=16)
    context = torch.tensor([[-1.0], [1.0]]).repeat(32, 1)  # rows alternate between two contexts
    pos = context + 0.5  # positives with energy 2.5 each, so the threshold is 3.5
    buffer.observe(torch.zeros(1, 1, 1), torch.zeros(1, 1), torch.zeros(1), margin=1.0)
    neg = buffer.sample(pos, 8, Bowl(), context)  # [64, 8, 1]
    distance = (neg[..., 0] - context).abs()  # [64, 8]
    # A uniform draw over [-2, 2] lies ~1.25 from either context on average; the prioritized draw lies near
    # the row's own context, for both contexts (a single shared context would serve only one of them).
    assert distance[0::2].mean() < 0.6 and distance[1::2].mean() < 0.6
    uniform = HardBuffer(box, size=4000, pool=16, alpha=0.0).sample(pos, 8, Bowl(), context)
    assert (uniform[..., 0] - context).abs().mean() > 1.0


def test_parse_negatives_knows_mismatched_and_pairs_work_for_every_kind():
    torch.manual_seed(0)
    box = (torch.tensor([-2.0]), torch.tensor([2.0]))
    spec = "uniform:1,perturb:1,mismatched:1,model:1,hard:1"
    mix = parse_negatives(spec, box, hard_size=100, model_steps=2)
    y, context = torch.randn(16, 1), torch.randn(16, 1)
    neg = mix.sample(y, 10, Bowl(), context)
    assert neg.shape == (16, 10, 1) and torch.isfinite(neg).all()


def test_multi_start_prediction_finds_both_minima_of_a_two_well_energy():
    torch.manual_seed(0)
    context = torch.tensor([[-0.5], [0.0], [0.7]])
    box = (torch.tensor([-3.0]), torch.tensor([3.0]))
    pred = predict(TwoWells(), context, box, starts=12, steps=400)
    for row, c in enumerate(context[:, 0].tolist()):
        answers = sorted(pred.answers(row)[:, 0].tolist())
        assert len(answers) == 2
        assert answers[0] == pytest.approx(c - 1, abs=0.02) and answers[1] == pytest.approx(c + 1, abs=0.02)


def test_latent_energy_learns_to_choose_a_branch_with_z():
    # Two answers for every x (y = +1 and y = -1); a trained latent model answers with both, depending on z.
    torch.manual_seed(0)
    model = LatentEnergy(1, context_dim=1, latent_dim=1, width=32, depth=2, candidates=8)
    box = (torch.tensor([-2.0]), torch.tensor([2.0]))
    negatives = parse_negatives("uniform", box)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        x = torch.rand(64, 1) * 2 - 1
        y = torch.where(torch.rand(64, 1) < 0.5, 1.0, -1.0)
        e_pos, e_neg, _ = latent_energies(model, y, x, negatives.sample(y, 8, model, x))
        loss = make_loss("log")(e_pos, e_neg)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    pred = predict_latent(model, torch.tensor([[-0.5], [0.0], [0.5]]), box, samples=16, starts=4, steps=200,
                          step_size=0.05, final_step_size=0.005)
    y = pred.samples[..., 0]  # [3, 16]
    near_plus, near_minus = (y - 1).abs() < 0.2, (y + 1).abs() < 0.2
    assert (near_plus | near_minus).float().mean() > 0.8  # sharp: answers sit on the branches
    assert near_plus.any(1).all() and near_minus.any(1).all()  # different z, different answers


def test_branches_at_finds_every_crossing_of_a_circle():
    t = np.linspace(0, 2 * np.pi, 5001)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    (b0, b1, b2) = branches_at(np.array([0.0, 0.6, 1.5]), circle)
    assert sorted(b0) == pytest.approx([-1, 1], abs=1e-3)
    assert sorted(b1) == pytest.approx([-0.8, 0.8], abs=1e-3)
    assert len(b2) == 0


def test_score_counts_reached_branches():
    t = np.linspace(0, 2 * np.pi, 5001)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    x = torch.tensor([[0.0], [0.6]])
    both = score(x, [torch.tensor([1.0, -1.0]), torch.tensor([0.8, -0.8])], circle, radius=0.1)
    assert both["mode_coverage"] == 1.0 and both["precision"] < 1e-3
    mean = score(x, [torch.tensor([0.0]), torch.tensor([0.0])], circle, radius=0.1)  # the regressor's answer
    assert mean["mode_coverage"] == 0.0 and mean["precision"] == pytest.approx(0.7, abs=1e-3)


def test_conditional_cli_writes_its_run_folder(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ebmplan", "conditional", *CONDITIONAL_TINY, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("config.json", "system.json", "metrics.json", "summary.md", "checkpoint.pt", "predictions.png",
                 "conditional.safetensors", "latent.safetensors", "regressor.safetensors"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for kind in KINDS:
        for view in VIEWS:
            assert 0 <= metrics[kind][view]["mode_coverage"] <= 1 and metrics[kind][view]["precision"] >= 0
    assert metrics["held_out_x"] == 8
    table = (out / "summary.md").read_text()
    assert all(f"| {kind} | {view} |" in table for kind in KINDS for view in ("all", "converged"))
    assert "precision" in done.stdout


def test_film_energy_depends_on_its_context_and_works_with_prediction():
    torch.manual_seed(0)
    energy = FiLMEnergy(1, context_dim=1, width=16, depth=2)
    y = torch.zeros(4, 1)
    e1, e2 = energy(y, torch.zeros(4, 1)), energy(y, torch.ones(4, 1))
    assert e1.shape == (4,) and not torch.allclose(e1, e2)
    pred = predict(energy, torch.randn(3, 1), (torch.tensor([-1.0]), torch.tensor([1.0])), starts=2, steps=5)
    assert pred.samples.shape == (3, 2, 1) and torch.isfinite(pred.samples).all()


def test_one_seed_gives_one_result(tmp_path):
    tiny = dict(steps=15, width=16, batch_size=32, n_eval=6, starts=3, latent_samples=2, latent_starts=2,
                infer_steps=10, hard_size=128)
    runs = [run_conditional(ConditionalConfig(out=str(tmp_path / name), **tiny)) for name in ("a", "b")]
    first, second = (json.loads((r / "metrics.json").read_text()) for r in runs)
    for kind in KINDS:
        for view in VIEWS:
            assert first[kind][view]["precision"] == second[kind][view]["precision"]
            assert first[kind][view]["mode_coverage"] == second[kind][view]["mode_coverage"]


@pytest.mark.e2e
def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    # Killed once the first of the three models is in the checkpoint; the resumed run loads it, trains the
    # other two, and measures exactly what an uninterrupted run measures.
    args = ["--steps", "150", "--width", "16", "--batch-size", "32", "--n-eval", "8", "--starts", "4",
            "--latent-samples", "2", "--latent-starts", "2", "--infer-steps", "20", "--hard-size", "256"]
    killed, whole = kill_resume_and_rerun(["conditional"], args, tmp_path, after_step=1, total=3)
    assert untimed_metrics(killed) == untimed_metrics(whole)
    run = load_run(killed)
    assert isinstance(run, ConditionalRun) and run.metrics == json.loads((killed / "metrics.json").read_text())
    x = torch.linspace(-1, 1, 5)[:, None]  # [5, 1]
    for kind in KINDS:
        for view in VIEWS:
            answers = run.predict(x, kind, view)
            assert len(answers) == 5 and all(a.ndim == 1 and len(a) >= 1 for a in answers)
    assert all(len(a) == 1 for a in run.predict(x, "regressor", "all_answers"))
    assert all(len(a) == 4 for a in run.predict(x, "conditional", "all_answers"))  # one per start


def test_latent_prediction_says_which_answers_converged():
    model = LatentEnergy(1, context_dim=1, latent_dim=1, width=16, depth=2, candidates=4)
    x, box = torch.randn(5, 1), (torch.tensor([-2.0]), torch.tensor([2.0]))
    pred = predict_latent(model, x, box, samples=3, starts=2, steps=15)
    assert pred.samples.shape == (5, 3, 1) and pred.z.shape == (5, 3, 1)
    assert pred.converged.shape == (5, 3) and pred.converged.dtype == torch.bool
    assert pred.answers(0, converged_only=False).shape[1] == 1


def test_every_model_is_scored_on_all_its_answers_and_on_its_converged_ones(tmp_path):
    # The tiny CLI settings (CONDITIONAL_TINY): 8 held-out x, 4 starts, 2 latent samples, 20 descent steps.
    names, values = CONDITIONAL_TINY[::2], CONDITIONAL_TINY[1::2]
    fields = {name[2:].replace("-", "_"): value for name, value in zip(names, values, strict=True)}
    cfg = ConditionalConfig(**{k: type(getattr(ConditionalConfig, k))(v) for k, v in fields.items()},
                            out=str(tmp_path / "run"))
    m = json.loads((run_conditional(cfg) / "metrics.json").read_text())
    answers_each = {"conditional": cfg.starts, "latent": cfg.latent_samples, "deterministic": 1, "regressor": 1}
    for kind in KINDS:
        every, converged = m[kind]["all_answers"], m[kind]["converged_answers"]
        assert every["answers_per_x"] == answers_each[kind]  # nothing left out, nothing merged
        assert converged["answers_per_x"] <= every["answers_per_x"]
        assert {k: m[kind][k] for k in converged} == converged  # the flat keys are the converged view
        assert 0 <= m[kind]["converged_fraction"] <= 1
    assert m["regressor"]["all_answers"] == m["regressor"]["converged_answers"]
    assert m["regressor"]["converged_fraction"] == 1
    # Here the views differ (duplicate minima merged), so a converged view passed off as all answers would fail.
    assert m["conditional"]["converged_answers"]["answers_per_x"] < cfg.starts
    # The all-answers precision is the mean over every answer: rebuild them from the saved models with the
    # run's inference seed and score them again.
    run = load_run(tmp_path / "run")
    pairs = spiral_pairs(cfg.seed, cfg.n_eval)
    for kind in ("conditional", "latent"):
        torch.manual_seed(cfg.seed + 1)
        answers = run.predict(pairs.x_eval, kind, "all_answers")
        assert [len(a) for a in answers] == [answers_each[kind]] * cfg.n_eval
        again = score(pairs.x_eval, answers, pairs.curve, cfg.reach)
        assert again["precision"] == pytest.approx(m[kind]["all_answers"]["precision"], rel=1e-6)
        assert again["mode_coverage"] == m[kind]["all_answers"]["mode_coverage"]


@pytest.mark.parametrize("kind", ["conditional", "latent", "regressor"])
def test_each_model_stops_with_divergence_not_a_nan_result(kind):
    cfg = ConditionalConfig(steps=5, width=8, batch_size=16, hard_size=64, lr=float("inf"))
    model = build_models(cfg)[kind]
    with pytest.raises(Divergence, match=f"diverged at step 1: the weights of the {kind} model are not finite"):
        train_model(model, spiral_pairs(0, 8), cfg, kind)


def test_a_diverging_conditional_run_exits_1_and_prints_no_result(tmp_path, capsys):
    # in process (the command's tiny run above goes through the CLI)
    code = main_code(["conditional", *CONDITIONAL_TINY, "--lr", "1e30", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "training diverged at step" in err and "--lr" in err and "Traceback" not in err
    assert "nan" not in out and not (tmp_path / "run" / "metrics.json").exists()


def test_the_loss_gets_exactly_its_own_options():
    cfg = ConditionalConfig(loss="cd", l2=0.5)
    assert cfg.make_loss().keywords == {"l2": 0.5}  # conditional used to pass only margin: cd's l2 was lost
    assert ConditionalConfig(loss="infonce", temperature=0.2).make_loss().keywords == {"temperature": 0.2}


def test_the_old_flag_parses():
    from ebmplan.commands import parse

    assert parse("conditional", ["--radius", "0.3"]).reach == 0.3  # `reach` was called `radius`
