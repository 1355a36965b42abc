"""Bouncing-balls video, the frame energy and its negatives, and the `ebmplan video` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import VIDEO_TINY, kill_resume_and_rerun, main_code, untimed_metrics
from ebmplan import load_run
from ebmplan.common.errors import ConfigError, Divergence
from ebmplan.conditional import ConditionalConfig, run_conditional
from ebmplan.energy.frame_negatives import (
    FRAME_NEGATIVES,
    Chains,
    MismatchedFrames,
    frame_negatives,
    parse_frame_negatives,
    renamed,
)
from ebmplan.energy.frames import FrameEnergy, LatentFrameEnergy
from ebmplan.energy.inference import descend
from ebmplan.video import VideoConfig, VideoRun, run_video, training
from ebmplan.video.data import bouncing_balls, centre_of_mass, examples, load_videos, next_positions, render
from ebmplan.video.single_frame import modes


def test_balls_stay_inside_the_frame():
    v = bouncing_balls(40, 60, size=16, n_balls=2, radius=2.5, speed=(1.0, 3.0), seed=3)
    assert v.positions.min() >= 2.5 and v.positions.max() <= 16 - 2.5
    # The whole disc is drawn in every frame: one ball's total intensity never changes.
    one = bouncing_balls(20, 60, size=16, radius=2.5, speed=(1.0, 3.0), seed=4)
    mass = one.frames.sum(dim=(2, 3))  # [N, T]
    assert (mass - mass[:, :1]).abs().max() < 0.5 and mass.min() > 15


def test_bounces_conserve_speed():
    v = bouncing_balls(30, 80, size=16, radius=2.0, speed=(1.0, 2.5), seed=5)
    flips = (v.velocities[:, 1:] * v.velocities[:, :-1] < 0).sum()
    assert flips > 30  # the walls were hit many times
    speed = v.velocities.norm(dim=-1)
    assert torch.allclose(speed, speed[:, :1].expand_as(speed), atol=1e-5)
    # Between bounces a ball moves by exactly its velocity.
    step = v.positions[:, 1:] - v.positions[:, :-1]
    no_bounce = (v.velocities[:, 1:] == v.velocities[:, :-1]).all(-1)
    assert torch.allclose(step[no_bounce], v.velocities[:, :-1][no_bounce], atol=1e-4)


def test_generator_is_deterministic_per_seed():
    a, b = bouncing_balls(5, 10, seed=7), bouncing_balls(5, 10, seed=7)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.positions, b.positions)
    assert not torch.equal(a.frames, bouncing_balls(5, 10, seed=8).frames)
    data = load_videos(n_train=5, n_test=5, length=10, seed=7)
    assert not torch.equal(data.train.frames, data.test.frames)


def test_centre_of_mass_finds_the_ball():
    pos = torch.tensor([[[4.3, 9.7]], [[12.0, 2.6]]])  # [N, K=1, 2]
    frames = render(pos, 16, 2.0).reshape(2, -1)
    assert (centre_of_mass(frames) - pos[:, 0]).norm(dim=1).max() < 0.05


@pytest.mark.parametrize("bad", [dict(radius=9.0), dict(speed=(2.0, 1.0)), dict(size=2),
                                 dict(speed=(0.5, 20.0))])
def test_bad_generator_settings_are_config_errors(bad):
    with pytest.raises(ConfigError):
        bouncing_balls(2, 5, **bad)


def test_next_positions_hold_the_true_one():
    v = bouncing_balls(20, 15, speed=(2.0, 2.0), directions=4, seed=2)
    possible = next_positions(v, 2.0, 4)  # [M, 4, 2]
    true = v.positions[:, 1:, 0].reshape(-1, 2)
    assert (possible - true[:, None]).norm(dim=-1).min(1).values.max() < 1e-4
    assert (possible[:, :, None] - possible[:, None]).norm(dim=-1).sum() > 0  # the four really differ


def test_mode_metric_tells_sharp_from_blurred():
    v = bouncing_balls(6, 5, speed=(2.0, 2.0), directions=4, seed=3)
    _, target, _ = examples(v, 1)
    candidates = render(next_positions(v, 2.0, 4)[:, :, None, :], 16, 2.0).flatten(2)  # [M, 4, P]
    sharp = modes(candidates, candidates, target)
    assert sharp["modes_reached"] == 4 and sharp["predictions_on_a_mode"] == 1
    assert 1 <= sharp["modes_distinct"] <= 4
    blurred = modes(candidates.mean(1, keepdim=True), candidates, target)
    assert blurred["modes_reached"] < 1 and blurred["mse_to_nearest_mode"] > sharp["mse_to_nearest_mode"]


def test_latent_energy_minimum_is_its_decoded_frame():
    torch.manual_seed(0)
    latent = LatentFrameEnergy(16, frames=1, codes=3, width=8)
    frames, z = torch.rand(4, 16), torch.tensor([0, 1, 2, 1])
    context = latent.with_codes(frames, z)
    best = latent.decode_all(frames)[torch.arange(4), z]  # [4, 16]
    assert torch.allclose(latent(best, context), torch.zeros(4), atol=1e-8)
    found = descend(latent, torch.rand(4, 16), context=context, steps=300, step_size=0.1, tol=1e-7).samples
    assert torch.allclose(found, best, atol=1e-3)


def test_energies_match_forward():
    torch.manual_seed(0)
    energy = FrameEnergy(16, width=8)
    x, context = torch.rand(3, 5, 16), torch.rand(3, 32)
    flat = energy(x.reshape(15, 16), context.repeat_interleave(5, dim=0)).reshape(3, 5)
    assert torch.allclose(energy.energies(x, context), flat, atol=1e-6)


def test_descent_lowers_the_frame_energy():
    torch.manual_seed(0)
    energy = FrameEnergy(64, width=16)
    context = torch.rand(10, 128)
    x0 = torch.rand(10, 64)
    out = descend(energy, x0, context=context, steps=50, step_size=0.05, tol=0.0,
                  box=(torch.zeros(64), torch.ones(64))).samples
    with torch.no_grad():
        assert (energy(out, context) < energy(x0, context) - 1e-3).all()


def test_mismatched_and_hard_mismatched_negatives():
    torch.manual_seed(0)
    videos = bouncing_balls(4, 10, size=8, radius=1.5, speed=(0.5, 1.0), seed=1)
    _, target, where = examples(videos)
    frames = videos.frames.reshape(4, 10, 64)
    energy = FrameEnergy(64, width=8)
    idx = torch.arange(len(target))
    context = torch.rand(len(idx), 128)
    neg = MismatchedFrames(frames, where).sample(target, 50, energy, context, idx)  # [M, 50, 64]
    assert not (neg == target[:, None]).all(-1).any()  # never the true next frame
    sampler = frame_negatives(frames, where, {"mismatched": 1.0})
    hard = frame_negatives(frames, where, {"hard-mismatched": 1.0}, hard_pool=8)
    e_hard = energy.energies(hard.sample(target, 4, energy, context, idx), context)
    e_plain = energy.energies(sampler.sample(target, 4, energy, context, idx), context)
    assert e_hard.mean() < e_plain.mean()  # hard mining keeps the negatives the model rates as plausible


def test_chain_negatives_are_persistent_descent_chains():
    torch.manual_seed(0)
    videos = bouncing_balls(3, 6, size=8, radius=1.5, speed=(0.5, 1.0), seed=1)
    context, target, where = examples(videos)
    chains = Chains(videos.frames.reshape(3, 6, 64), where, reinit=0.0)
    energy = FrameEnergy(64, width=8)
    idx = torch.arange(len(target))
    first = chains.sample(target, 2, energy, context, idx)  # [M, 2, 64]
    assert first.shape == (len(idx), 2, 64) and 0 <= first.min() and first.max() <= 1
    assert torch.equal(chains.chains, first)  # stored, to be continued next time
    second = chains.sample(target, 2, energy, context, idx)
    assert energy.energies(second, context).mean() < energy.energies(first, context).mean()


def test_frame_mixture_draws_each_kind_its_share_in_the_pixel_range():
    torch.manual_seed(0)
    videos = bouncing_balls(3, 6, size=8, radius=1.5, speed=(0.5, 1.0), seed=1)
    context, target, where = examples(videos)
    spec = "uniform:1,perturb:1,mismatched:1,hard-mismatched:1,chains:1"
    mix = frame_negatives(videos.frames.reshape(3, 6, 64), where, parse_frame_negatives(spec), perturb_sigma=0.3)
    assert mix.counts(10) == dict.fromkeys(FRAME_NEGATIVES, 2)
    idx = torch.arange(len(target))
    neg = mix.sample(target, 10, FrameEnergy(64, width=8), context, idx)
    assert neg.shape == (len(idx), 10, 64) and 0 <= neg.min() and neg.max() <= 1
    gap = neg.sub(target[:, None]).abs().mean((0, 2))  # [10]: how far each column lies from the true frame
    assert gap[2:4].max() < gap[:2].min()  # perturbed true frames lie nearer than uniform noise
    with pytest.raises(ConfigError, match="perturb_sigma > 0"):
        frame_negatives(videos.frames.reshape(3, 6, 64), where, {"perturb": 1.0}, perturb_sigma=0.0)


def test_negative_spec_errors():
    assert parse_frame_negatives("uniform,hard-mismatched:2") == {"uniform": 1.0, "hard-mismatched": 2.0}
    for bad in ("", "noise", "uniform:-1", "uniform,uniform", "hard-mismatched:x"):
        with pytest.raises(ConfigError):
            parse_frame_negatives(bad)
    # The point kinds `hard` (a prioritized buffer) and `model` (short runs from a shared buffer) are not
    # what frames do; their old frame names say what they are called now.
    for old, new in (("hard", "hard-mismatched"), ("model", "chains")):
        with pytest.raises(ConfigError, match=f"'{old}' is now called '{new}'"):
            parse_frame_negatives(f"uniform,{old}:2")


def test_ablation_arms_have_one_spelling():
    assert renamed("uniform:2,hard:1") == "uniform:2,hard-mismatched:1" and renamed(" uniform") == " uniform"
    assert VideoConfig(ablation=("", " uniform ")).ablation == ("uniform",)  # `--ablation ''`: no arm
    with pytest.raises(ConfigError, match="one negative mixture per value"):
        VideoConfig(ablation=("uniform;mismatched",)).validate()


def test_same_seed_same_result(tmp_path):
    def once(name):
        cfg = VideoConfig(out=str(tmp_path / name), n_train=10, n_test=2, length=6, rollout=2, steps=10,
                          width=16, n_eval=4, infer_steps=5, ablation=(), single_frame=False)
        return json.loads((run_video(cfg) / "metrics.json").read_text())

    a, b = once("a"), once("b")
    for model in ("ebm", "regressor"):
        assert a[model]["one_step"] == b[model]["one_step"] and a[model]["rollout"] == b[model]["rollout"]


@pytest.mark.e2e
def test_cli_end_to_end(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "ebmplan", "video", "--out", str(out), *VIDEO_TINY,
            "--ablation", "uniform", "mismatched,hard-mismatched", "--ablation-seconds", "0.5"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "system.json", "metrics.json", "checkpoint.pt", "energy.safetensors",
                 "regressor.safetensors", "rollout.png", "single_frame.png"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    for model in ("ebm", "regressor"):
        assert m[model]["one_step"]["position_error"] >= 0
        assert len(m[model]["rollout"]["position_error_by_step"]) == 3
    assert set(m["ablation"]) == {"uniform", "mismatched,hard-mismatched"}
    assert m["ablation"]["uniform"]["train"]["steps"] >= 1
    assert {"regressor", "ebm", "latent"} <= set(m["single_frame"])
    assert m["single_frame"]["latent"]["predictions"] == 16
    assert "1-step pos px" in result.stdout


@pytest.mark.parametrize("bad, says", [(["--negatives", "noise"], "negative kind"),
                                       (["--speed-max", "30"], "ball speeds")])
def test_cli_bad_value_exits_2(tmp_path, bad, says, capsys):
    assert main_code(["video", "--out", str(tmp_path / "x"), *bad]) == 2  # in process: parsing stops it
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # refused before any run folder is made


@pytest.mark.e2e
def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    # Killed once the first of its five models is in the checkpoint; the resumed run loads it, trains the
    # rest, and measures exactly what an uninterrupted run measures (no ablation: its arms train for a time).
    args = ["--n-train", "10", "--n-test", "2", "--length", "6", "--rollout", "2", "--steps", "100",
            "--width", "16", "--n-eval", "4", "--infer-steps", "5", "--ablation", ""]
    killed, whole = kill_resume_and_rerun(["video"], args, tmp_path, after_step=1, total=5)
    assert untimed_metrics(killed) == untimed_metrics(whole)
    run = load_run(killed)
    assert isinstance(run, VideoRun)
    P = 16 * 16
    assert run.predict(torch.rand(3, 2 * P)).shape == (3, P)
    assert run.predict(torch.rand(3, 2 * P), "regressor").shape == (3, P)
    assert run.predict(torch.rand(3, P), "single_frame_energy").shape == (3, P)
    with pytest.raises(ConfigError, match="holds a run of kind 'video', not 'conditional'"):
        run_conditional(ConditionalConfig(resume=str(killed)))


def test_a_diverging_run_exits_1_and_reports_no_result(tmp_path, capsys):
    code = main_code(["video", *VIDEO_TINY, "--lr", "1e12", "--ablation", "", "--out", str(tmp_path / "v")])
    out, err = capsys.readouterr()  # in process
    assert code == 1, err
    assert "diverged at step" in err and "--lr" in err and "nan" not in out


DIVERGING = {  # every model `ebmplan video` trains, by its name in the Divergence message, as the run trains it
    "energy": lambda cfg, v: training.train_energy(cfg, v, cfg.negatives, steps=cfg.steps),
    "regressor": lambda cfg, v: training.train_regressor(cfg, v),
    "ablation uniform": lambda cfg, v: training.train_energy(cfg, v, "uniform", seconds=60.0,
                                                             name="ablation uniform"),
    "single_frame_energy": lambda cfg, v: training.train_energy(cfg, v, cfg.negatives, steps=cfg.steps,
                                                                context_frames=1, name="single_frame_energy"),
    "single_frame_regressor": lambda cfg, v: training.train_regressor(cfg, v, context_frames=1,
                                                                      name="single_frame_regressor"),
    "single_frame_latent": lambda cfg, v: training.train_latent(cfg, v, name="single_frame_latent"),
}


@pytest.mark.parametrize("model", list(DIVERGING))
def test_every_video_model_stops_at_divergence(model):
    cfg = VideoConfig(steps=20, width=16, batch_size=8, lr=float("inf"))
    data = load_videos(n_train=4, n_test=1, length=6, seed=0)
    # step 1 updates the weights to inf (or nan)
    with pytest.raises(Divergence, match=f"training diverged at step [12]: the .* of the {model} model .* --lr"):
        DIVERGING[model](cfg, data.train)
