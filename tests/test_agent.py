"""The distance agent: Bellman target, fast pairwise distances, and tiny real training runs via the CLI."""


import numpy as np
import torch
from safetensors.torch import load_file

from conftest import main_code, run_cli
from ebmplan.common.runs import load_run
from ebmplan.plan import load_maze
from ebmplan.plan.agent.networks import DistanceAgent, shift_target
from ebmplan.plan.agent.run import MazeTrainConfig, load_agent
from ebmplan.plan.agent.training import train_agent

torch.set_num_threads(1)  # tiny networks: one thread is faster, and results do not depend on the machine

TINY = ["--map", "Spiral5x5", "--resize", "2", "--width", "32", "--n-envs", "8", "--updates-per-collect", "2",
        "--warmup", "4", "--log-every", "50", "--batch-size", "32"]




def test_shift_target_moves_mass_one_bin_and_reaching_is_one_step():
    p = torch.tensor([[[0.5, 0.2, 0.2, 0.1], [0.0, 0.0, 0.0, 1.0]]])  # [E=1, B=2, bins=4]
    t = shift_target(p, torch.tensor([False, True]))
    torch.testing.assert_close(t[0, 0], torch.tensor([0.0, 0.5, 0.2, 0.3]))  # last bin keeps the overflow
    torch.testing.assert_close(t[0, 1], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(t.sum(-1), torch.ones(1, 2))


def test_pairwise_distance_matches_distance():
    torch.manual_seed(0)
    maze = load_maze("FourRooms", resize=5)
    agent = DistanceAgent(maze.high, width=64)
    states = maze.sample_free(np.random.default_rng(0), 120)
    full = agent.pairwise_distance(states, chunk=1000)
    i, j = np.meshgrid(np.arange(120), np.arange(120), indexing="ij")
    direct = agent.distance(states[i.ravel()], states[j.ravel()]).reshape(120, 120)
    np.testing.assert_allclose(full, direct, rtol=1e-4)
    assert (direct >= 1).all() and (direct <= agent.bins).all()
    cut = agent.pairwise_distance(states, cutoff=5)
    cheb = np.abs(states[:, None] - states[None]).max(-1)
    np.testing.assert_allclose(cut[cheb <= 6], direct[cheb <= 6], rtol=1e-4)
    assert np.isinf(cut[cheb > 6]).all()
    as_tensor = agent.pairwise_distance(torch.as_tensor(states, dtype=torch.float32))
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (120, 120)
    threads = torch.get_num_threads()
    for n in (1, 2):  # one thread: blocks in turn; two: row blocks in parallel threads
        torch.set_num_threads(n)
        try:
            np.testing.assert_allclose(agent.pairwise_distance(states, chunk=500), direct, rtol=1e-4)
        finally:
            torch.set_num_threads(threads)
        assert torch.get_num_threads() == threads


def test_tiny_cli_run_lowers_critic_loss_writes_folder_and_evaluates(tmp_path):
    run = tmp_path / "run"
    done = run_cli("maze", "train", *TINY, "--steps", "250", "--lr", "3e-3", "--out", str(run))
    assert done.returncode == 0, done.stderr
    for name in ("config.json", "system.json", "metrics.csv", "metrics.json", "checkpoint.pt",
                 "model.safetensors", "distance.png", "rollouts.png", "trajectories.npz"):
        assert (run / name).is_file(), name
    rows = np.genfromtxt(run / "metrics.csv", delimiter=",", names=True)
    assert rows["critic_loss"][-1] < 0.97 * rows["critic_loss"][0]
    traj = np.load(run / "trajectories.npz")
    offsets, states = traj["offsets"], traj["states"]
    assert offsets[0] == 0 and offsets[-1] == len(states) and (np.diff(offsets) >= 2).all()
    assert len(traj["goals"]) == len(offsets) - 1 == len(traj["reached"])
    maze = load_maze("Spiral5x5", resize=2)
    assert not maze.blocked(states.astype(np.float64)).any()
    steps = np.abs(np.diff(states, axis=0)).max(1)
    inside = np.ones(len(states) - 1, bool)
    inside[offsets[1:-1] - 1] = False  # jumps between episodes are not steps
    assert (steps[inside] <= 1.0 + 1e-5).all()  # a step moves at most 1 along each axis
    loaded = load_run(run)
    assert loaded.agent.distance(np.array([[0.5, 0.5]]), np.array([[9.5, 0.5]])).shape == (1,)
    done = run_cli("maze", "eval", str(run), "--episodes", "20", "--pairs", "100", "--difficulties", "0.1", "0.5")
    assert done.returncode == 0, done.stderr
    assert "| 0.1 |" in done.stdout and "Spearman" in done.stdout
    assert (run / "eval.json").is_file() and (run / "eval.md").is_file()


def test_one_seed_gives_one_result_and_relabelling_runs(tmp_path):
    def run(name: str, relabel: float):
        cfg = MazeTrainConfig(map="Spiral5x5", resize=2, width=16, n_envs=4, updates_per_collect=2, warmup=2,
                              steps=60, log_every=30, batch_size=16, relabel=relabel,
                              out=str(tmp_path / name))
        return load_file(str(train_agent(cfg) / "model.safetensors"))

    a, b = run("a", 0.0), run("b", 0.0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = run("c", 0.5)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert load_agent(tmp_path / "c").config.relabel == 0.5


def test_user_map_trains(tmp_path):
    path = tmp_path / "corridor.txt"
    path.write_text("......\n.####.\n......\n")
    assert main_code(["maze", "train", "--map", str(path), "--resize", "2", *TINY[4:], "--steps", "20",
                      "--log-every", "10", "--out", str(tmp_path / "run")]) == 0  # in process
    assert load_agent(tmp_path / "run").maze.walls.shape == (6, 12)
