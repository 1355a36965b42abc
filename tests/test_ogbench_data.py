"""OGBench's point-maze datasets made here and OGBench's evaluation: layout, seeding, refusal, scoring."""

import json

import numpy as np
import pytest

ogbench = pytest.importorskip("ogbench", reason="ogbench (the datasets extra) is not importable: pip install "
                              "'ebmplan[datasets]'", exc_type=ImportError)  # also when its mujoco is broken

from conftest import main_code  # noqa: E402
from ebmplan.common.errors import ConfigError  # noqa: E402
from ebmplan.ogbench import data, evaluation  # noqa: E402

STITCH = "pointmaze-medium-stitch-v0"  # 201-row episodes: the fastest recipe


def test_a_tiny_generation_has_ogbench_layout_and_one_seed_gives_one_file(tmp_path):
    made = data.generate(STITCH, seed=3, out=tmp_path / "a", episodes=10)
    again = data.generate(STITCH, seed=3, out=tmp_path / "b", episodes=10)
    other = data.generate(STITCH, seed=4, out=tmp_path / "c", episodes=10)
    record = json.loads(made.record.read_text())
    assert record["seed"] == 3 and record["recipe"]["noise"] == 0.5 and record["recipe"]["max_episode_steps"] == 201
    assert set(record["versions"]) >= {"ogbench", "mujoco"}
    assert record["files"] == json.loads(again.record.read_text())["files"]  # the same arrays' checksums
    assert record["files"] != json.loads(other.record.read_text())["files"]
    for path, rows in ((made.train, 10 * 201), (made.val, 1 * 201)):
        with np.load(path) as f:
            assert sorted(f.files) == sorted(data.KEYS)
            assert {k: f[k].dtype for k in f.files} == {"observations": np.float32, "actions": np.float32,
                                                        "terminals": bool, "qpos": np.float32, "qvel": np.float32}
            assert f["observations"].shape == f["actions"].shape == (rows, 2)
            np.testing.assert_array_equal(np.flatnonzero(f["terminals"]), np.arange(200, rows, 201))
            assert np.abs(f["actions"]).max() <= 1
    for split in ("train", "val"):
        a, b, c = (data.load(m.train if split == "train" else m.val) for m in (made, again, other))
        np.testing.assert_array_equal(a.observations, b.observations)
        np.testing.assert_array_equal(a.qvel, b.qvel)
        assert not np.array_equal(a.observations, c.observations)
    # OGBench's own loader finds and reads the files by name: 200 (s, a, s') transitions per 201-row episode
    _, train, val = ogbench.make_env_and_datasets(STITCH, dataset_dir=str(made.train.parent))
    assert len(train["observations"]) == data.load(made.train).transitions == 10 * 200
    assert len(val["next_observations"]) == 200
    # each stitch trajectory walks to a goal 4 cells away and stays: about 5 distinct cells
    d = data.load(made.train)
    assert d.name == STITCH and d.episodes == 10 and (d.lengths == 201).all()
    stats = data.statistics(d)
    assert 4.5 <= stats["cells_per_episode"] <= 6 and stats["free_cells"] == 26 and 0 < stats["coverage"] < 1


@pytest.mark.parametrize("name", ["pointmaze-large-stitch-v0", "pointmaze-giant-stitch-v0",
                                  "pointmaze-teleport-stitch-v0", "pointmaze-medium-navigate-v0"])
def test_the_recipe_runs_on_every_maze_and_stays_in_free_cells(name):
    train, val = data.collect(name, seed=0, episodes=10)
    recipe = data.RECIPES[name]
    assert len(train["terminals"]) == 10 * recipe.max_episode_steps and train["terminals"][-1]
    assert len(val["terminals"]) == recipe.max_episode_steps
    maze = evaluation.layout(name)
    cells = maze.cells_of(train["observations"])
    assert maze.free[cells[:, 0], cells[:, 1]].mean() > 0.99  # the point's centre may graze a wall cell
    env = evaluation.make_env(name).unwrapped
    for xy, ij in zip(train["observations"][::97], cells[::97], strict=True):
        assert env.xy_to_ij(xy) == tuple(ij)  # the layout maps positions to cells as OGBench does


def test_the_layout_counts_free_cells_and_visits():
    maze = evaluation.layout("pointmaze-medium-navigate-v0")
    assert maze.free.shape == (8, 8) and maze.free.sum() == 26
    env = evaluation.make_env("pointmaze-medium-navigate-v0").unwrapped
    centres = np.array([env.ij_to_xy(ij) for ij in [(1, 1), (1, 2), (2, 1), (1, 3)]])  # (1, 3) is a wall
    assert list(maze.free_cell_ids(centres)) == [9, 10, 17, -1]
    assert maze.coverage(centres) == 3 / 26
    assert maze.cells_per_group(centres, np.array([0, 0, 1, 1])) == 1.5  # {9, 10} and {17}


def _npz(path, **changes):
    """A valid 2-episode file with `changes` applied (a key given as None is left out)."""
    n = 6
    arrays = {"observations": np.zeros((n, 2), np.float32), "actions": np.zeros((n, 2), np.float32),
              "terminals": np.array([0, 0, 1, 0, 0, 1], bool), "qpos": np.zeros((n, 2), np.float32),
              "qvel": np.zeros((n, 2), np.float32)}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_a_valid_file_loads_with_its_trajectory_boundaries(tmp_path):
    d = data.load(_npz(tmp_path / "ok.npz"))
    assert (d.rows, d.episodes, d.transitions) == (6, 2, 4)
    assert list(d.starts) == [0, 3] and list(d.ends) == [2, 5]
    assert list(d.valid) == [True, True, False, True, True, False]
    assert d.name is None and data.statistics(d)["coverage"] is None


@pytest.mark.parametrize("changes, words", [
    (dict(actions=None), "lacks actions"),
    (dict(observations=np.zeros((6, 3), np.float32)), "observations must have shape (6, 2)"),
    (dict(qvel=np.full((6, 2), np.nan, np.float32)), "qvel is not finite in 6 rows"),
    (dict(terminals=np.array([0, 0, 1, 0, 0, 0], bool)), "last trajectory never ends"),
    (dict(terminals=np.array([0, 0, 1, 1, 0, 1], bool)), "has one row"),
    (dict(actions=np.full((6, 2), 2.0, np.float32)), "actions must lie in [-1, 1]"),
    (dict(terminals=np.array([0, 0, 2, 0, 0, 1])), "terminals must be booleans"),
])
def test_a_malformed_file_is_refused_in_one_sentence(tmp_path, changes, words):
    with pytest.raises(ConfigError) as err:
        data.load(_npz(tmp_path / "bad.npz", **changes))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_not_an_npz_or_not_there_is_refused(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ConfigError, match="is not a readable .npz file"):
        data.load(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match="does not exist"):
        data.load(tmp_path / "missing.npz")
    with pytest.raises(ConfigError, match="is not in .*; make it with: ebmplan ogbench data"):
        data.load(STITCH, data_dir=tmp_path)


def test_the_cli_refuses_a_malformed_file_with_exit_2_and_measures_a_good_one(tmp_path, cli):
    bad = _npz(tmp_path / "bad.npz", observations=np.full((6, 2), np.nan, np.float32))
    proc = cli("ogbench", "data", "--dataset", str(bad), "--out", str(tmp_path / "run-bad"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"ebmplan ogbench data: error: {bad}: observations is not finite "
                                                f"in 6 rows, the first at row 0"]
    assert not (tmp_path / "run-bad").exists()  # refused before any folder is made

    made = data.generate(STITCH, seed=0, out=tmp_path / "made", episodes=10)
    assert main_code(["ogbench", "data", "--dataset", str(made.train), "--out", str(tmp_path / "run")]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["made"] is False and m["name"] == STITCH  # known by its record, so coverage is measured
    assert (m["train"]["transitions"], m["train"]["episodes"], m["val"]["episodes"]) == (2000, 10, 1)
    assert 0 < m["train"]["coverage"] < 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["kind"] == "ogbench-data"
    assert main_code(["ogbench", "data", "--dataset", str(made.train), "--out", str(tmp_path / "run")]) == 2
    assert "mujoco" in json.loads((tmp_path / "run" / "system.json").read_text())


def _oracle(env):
    """The env's own subgoal direction, then the goal itself once in its cell (the oracle's subgoal there is the
    cell's centre, which can be more than 1.0 from the noisy goal): only for testing the evaluation, never a
    method."""
    maze = env.unwrapped

    def act(observation, goal):
        in_goal_cell = maze.xy_to_ij(observation) == maze.xy_to_ij(goal)
        target = goal if in_goal_cell else maze.get_oracle_subgoal(observation, goal)[0]
        direction = target - observation
        return direction / (np.linalg.norm(direction) + 1e-6)
    return act


class StandStill:
    def __init__(self):
        self.resets = 0

    def reset(self, observation, goal):
        assert observation.shape == goal.shape == (2,)
        self.resets += 1

    def __call__(self, observation, goal):
        return np.zeros(2)


def test_the_evaluation_scores_a_trivial_and_an_oracle_policy_as_expected():
    name = "pointmaze-medium-navigate-v0"
    env = evaluation.make_env(name)
    still = StandStill()
    before = np.random.get_state()[1].copy()
    idle = evaluation.evaluate(name, still, seed=0, episodes=2, tasks=[1], env=env)
    assert np.array_equal(np.random.get_state()[1], before)  # the caller's np.random is left as it was
    assert still.resets == 2
    assert idle.task_success == {"task1": 0.0} and idle.tasks["task1"]["steps"] == [1000, 1000]  # the time limit
    oracle = evaluation.evaluate(name, _oracle(env), seed=0, episodes=2, tasks=[1], env=env)
    assert oracle.success == 1.0 and max(oracle.tasks["task1"]["steps"]) < 1000  # ended at success
    again = evaluation.evaluate(name, _oracle(env), seed=0, episodes=2, tasks=[1], env=env)
    assert again.record()["tasks"] == oracle.record()["tasks"]  # one seed, one result
    record = oracle.record()
    assert record["task_success"] == {"task1": 1.0} and record["tasks"]["task1"]["goal_ij"] == [6, 6]


def test_the_evaluation_refuses_a_bad_task_and_a_bad_action():
    name = "pointmaze-medium-navigate-v0"
    with pytest.raises(ConfigError, match="task ids of .* are 1 to 5"):
        evaluation.evaluate(name, StandStill(), seed=0, episodes=1, tasks=[6])
    with pytest.raises(ValueError, match="finite action of shape"):
        evaluation.evaluate(name, lambda o, g: np.full(2, np.nan), seed=0, episodes=1, tasks=[1])
    with pytest.raises(ConfigError, match="unknown OGBench point-maze dataset"):
        evaluation.make_env("antmaze-large-navigate-v0")
