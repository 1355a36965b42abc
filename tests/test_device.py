"""`--device` on every command: a clear refusal without a GPU, and, on a machine with CUDA, every command end to
end on the GPU with the GPU's numbers checked against the CPU's (`make test-cuda` runs the CUDA half)."""

import json

import numpy as np
import pytest
import torch

from conftest import CONDITIONAL_TINY, MAZE_TINY, TINY, VIDEO_TINY, main_code, run_cli
from ebmplan.energy.inference import descend
from ebmplan.energy.models import MLPEnergy, input_gradient_fn

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("command", [
    ["spiral"], ["train", "--data", "moons"], ["conditional"], ["video"], ["compare"], ["maze", "train"],
    ["maze", "eval", "runs/none"], ["plan", "eval", "--agent", "runs/none"],
])
def test_cuda_without_a_gpu_is_one_sentence_and_no_run_folder(tmp_path, capsys, command):
    out = [] if command[:2] == ["maze", "eval"] else ["--out", str(tmp_path / "run")]
    assert main_code([*command, *out, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU is available" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@cuda
def test_hand_derived_gradient_on_cuda_matches_autograd():
    energy = MLPEnergy(2, width=64, context_dim=3).cuda().eval()
    x, c = torch.randn(5000, 2, device="cuda"), torch.randn(5000, 3, device="cuda")
    xg = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(energy(xg, c).sum(), xg)
    torch.testing.assert_close(input_gradient_fn(energy)(x, c), expected, rtol=1e-4, atol=1e-5)


@cuda
def test_descent_on_cuda_follows_the_cpu_descent():
    torch.manual_seed(0)
    energy = MLPEnergy(2, width=64)
    x0 = torch.rand(512, 2) * 2 - 1
    options = dict(steps=50, step_size=0.01, tol=1e-4, box=(torch.full((2,), -1.0), torch.full((2,), 1.0)))
    cpu = descend(energy, x0, **options)
    gpu = descend(energy.cuda(), x0.cuda(), **{**options, "box": tuple(b.cuda() for b in options["box"])})
    assert gpu.samples.device.type == "cuda"
    torch.testing.assert_close(gpu.samples.cpu(), cpu.samples, rtol=1e-3, atol=1e-4)


@cuda
def test_every_command_runs_end_to_end_on_cuda(tmp_path):
    def ok(*args):
        result = run_cli(*args, "--device", "cuda", timeout=600)
        assert result.returncode == 0, result.stderr
        return result

    for command, args in ((["spiral"], TINY), (["conditional"], CONDITIONAL_TINY),
                          (["video"], [*VIDEO_TINY, "--ablation", "uniform", "--ablation-seconds", "0.5"]),
                          (["compare"], ["--data", "moons", "--steps", "20", "--n-samples", "200"]),
                          (["maze", "train"], MAZE_TINY)):
        out = tmp_path / "-".join(command)
        ok(*command, *args, "--out", str(out))
        assert json.loads((out / "system.json").read_text())["device"].startswith("cuda"), command
    agent = tmp_path / "maze-train"
    ok("maze", "eval", str(agent))
    ok("plan", "eval", "--agent", str(agent), "--sources", "uniform,sgm,cvae,ebm", "--nodes", "8", "--episodes", "2",
       "--difficulties", "0.3", "0.8", "--max-steps", "30", "--gen-steps", "20", "--out", str(tmp_path / "plan"))
    assert (tmp_path / "plan" / "results.csv").is_file()


@cuda
def test_agent_distances_on_cuda_match_the_cpu(tmp_path):
    from ebmplan.plan.agent.run import load_agent

    assert run_cli("maze", "train", *MAZE_TINY, "--out", str(tmp_path / "a"), timeout=600).returncode == 0
    cpu, gpu = load_agent(tmp_path / "a"), load_agent(tmp_path / "a", "cuda")
    states = cpu.maze.sample_free(np.random.default_rng(0), 300)
    np.testing.assert_allclose(gpu.agent.pairwise_distance(states), cpu.agent.pairwise_distance(states),
                               rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gpu.agent.action(states, states[::-1]), cpu.agent.action(states, states[::-1]),
                               rtol=1e-3, atol=1e-4)
