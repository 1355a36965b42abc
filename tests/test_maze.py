"""Point mazes: the map parser, SORB's dynamics read step by step, the gymnasium env, true distances."""

import copy

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmplan.common.errors import ConfigError
from ebmplan.plan import PointMazeEnv, PointMazeVec, load_maze, step_points
from ebmplan.plan.world.maze import Maze, bundled_maps, parse_maps, thin_walls


def reference_step(walls: np.ndarray, state, action, eps: float):
    """docs/protocol.md §3 read literally, for one point, in plain Python floats."""
    h, w = walls.shape
    a = [min(1.0, max(-1.0, action[0] + eps)), min(1.0, max(-1.0, action[1] + eps))]
    s = [float(state[0]), float(state[1])]

    def blocked(p):
        if not (0 <= p[0] <= h and 0 <= p[1] <= w):
            return True
        return bool(walls[min(int(np.floor(p[0])), h - 1), min(int(np.floor(p[1])), w - 1)])

    for _ in range(10):
        for axis in (0, 1):
            trial = list(s)
            trial[axis] += 0.1 * a[axis]
            if not blocked(trial):
                s = trial
    return s


def test_dynamics_match_the_specification_step_by_step():
    maze = load_maze("FourRooms", resize=5)
    env = PointMazeVec(maze, 256, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.uniform(-1.5, 1.5, size=(256, 2))
        noise = copy.deepcopy(env.rng).normal(0.0, 1.0, size=256)  # the draws env.step is about to make
        before = env.states.copy()
        after, reached = env.step(actions)
        for i in range(256):
            expected = reference_step(maze.walls, before[i], actions[i], noise[i])
            np.testing.assert_array_equal(after[i], expected)
        np.testing.assert_array_equal(reached, np.linalg.norm(after - env.goals, axis=1) < 1)


def test_one_noise_sample_moves_both_axes_alike_and_walls_reject_moves():
    walls = np.zeros((3, 3), dtype=bool)
    walls[0, 2] = True
    maze = Maze(walls)
    s = step_points(maze, np.array([[0.5, 0.5]]), np.array([[0.0, 0.0]]), np.array([0.3]))
    np.testing.assert_allclose(s, [[0.8, 0.8]])  # the same noise on both components
    s = step_points(maze, np.array([[0.5, 1.5]]), np.array([[0.0, 1.0]]), np.array([0.0]))
    np.testing.assert_allclose(s, [[0.5, 1.9999999]], atol=0.1)  # stopped before the wall cell (0, 2)
    assert s[0, 1] < 2.0
    s = step_points(maze, np.array([[0.5, 0.5]]), np.array([[-1.0, 0.0]]), np.array([-5.0]))
    np.testing.assert_allclose(s, [[0.0, 0.0]], atol=1e-9)  # clipped to -1; stays inside the map


@st.composite
def maze_and_moves(draw):
    h, w = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    walls = np.array(draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))).reshape(h, w)
    walls[0, 0] = False
    n = draw(st.integers(1, 8))
    actions = np.array(draw(st.lists(st.floats(-3, 3), min_size=2 * n, max_size=2 * n))).reshape(n, 2)
    noise = np.array(draw(st.lists(st.floats(-4, 4), min_size=n, max_size=n)))
    return walls, actions, noise


@settings(max_examples=150, deadline=None)
@given(maze_and_moves(), st.integers(0, 2**31))
def test_no_step_ever_leaves_free_space(case, seed):
    walls, actions, noise = case
    maze = Maze.__new__(Maze)  # disconnected random grids are fine for the dynamics
    maze.walls, maze.height, maze.width = walls, *walls.shape
    maze.high = np.array(walls.shape, dtype=np.float64)
    free = np.argwhere(~walls)
    rng = np.random.default_rng(seed)
    states = free[rng.integers(len(free), size=len(actions))] + rng.random((len(actions), 2))
    for _ in range(3):
        states = step_points(maze, states, actions, noise)
        assert not maze.blocked(states).any()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="#.\n x=2", max_size=80))
def test_parser_accepts_a_map_or_says_what_is_wrong(text):
    try:
        maps = parse_maps(text)
    except ConfigError:
        return
    for walls in maps.values():
        assert walls.ndim == 2 and walls.size > 0


@pytest.mark.parametrize("text, words", [
    ("", "no map rows"), ("###\n###\n", "no free cell"), ("...\n..\n", "equally long"),
    ("..x\n...\n", "unknown character 'x'"), (".#.\n.#.\n", "separate free regions"),
    ("== A 2x2\n...\n...\n", "header says 2x2"),
])
def test_bad_maps_are_config_errors(tmp_path, text, words):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_maze(str(path), resize=1)


def test_user_map_file_loads_and_scales(tmp_path):
    path = tmp_path / "room.txt"
    path.write_text("# a small room\n....\n.##.\n....\n")
    maze = load_maze(str(path), resize=3)
    assert maze.walls.shape == (9, 12) and maze.name == "room"
    assert maze.walls[3:6, 3:9].all() and not maze.walls[:3].any()
    assert maze.max_distance == 14  # corner to corner around the block: 5 down, 1 diagonal past it, 2 + 6
    with pytest.raises(ConfigError, match="unknown map"):
        load_maze(str(tmp_path / "missing.txt"))


def test_every_bundled_map_loads_thick_and_thin():
    for name, walls in bundled_maps().items():
        for thin in (False, True):
            maze = load_maze(name, resize=3, thin=thin)
            assert maze.walls.shape == (walls.shape[0] * 3, walls.shape[1] * 3)
    thick, thin = load_maze("FourRooms", 5), load_maze("FourRooms", 5, thin=True)
    assert thin.walls.sum() < thick.walls.sum() / 3  # walls one cell thick, free space wider
    walls = thin_walls(np.array([[False, False, False], [False, True, False], [False, True, False]]), 5)
    assert walls[7:, 7].all() and walls.sum() == 8  # one line from the block centre down to the map edge


def test_true_distance_and_goal_sampling_hit_the_requested_difficulty():
    maze = load_maze("FourRooms", resize=5)
    assert maze.max_distance > 50
    a, b = np.array([[0.5, 0.5]]), np.array([[0.5, 4.5]])
    assert maze.true_distance(a, b)[0] == 4
    rng = np.random.default_rng(0)
    for d in (0.1, 0.5, 1.0):
        starts, goals = maze.sample_pairs(rng, 200, d)
        assert not maze.blocked(starts).any() and not maze.blocked(goals).any()
        achieved = maze.true_distance(starts, goals) / maze.max_distance
        assert np.all(np.abs(achieved - d) <= 0.05 + 1e-9)
    near = maze.sample_near(rng, starts, 4)
    assert (maze.true_distance(starts, near) <= 4).all()


def test_gymnasium_env_passes_check_env_and_is_registered():
    env = PointMazeEnv("Spiral7x7", resize=3)
    check_env(env, skip_render_check=True)
    env = gym.make("ebmplan/PointMaze-FourRooms-v0")
    obs, _ = env.reset(seed=0, options={"difficulty": 0.1})
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    base = env.unwrapped
    rewards = base.compute_reward(np.zeros((5, 2)), np.ones((5, 2)), {})
    assert rewards.shape == (5,) and (rewards == -1).all()
    done = base.compute_terminated(np.zeros((2, 2)), np.array([[0.5, 0.5], [3.0, 0.0]]), {})
    assert done.tolist() == [True, False]
    with pytest.raises(ConfigError, match="inside a wall"):
        env.reset(options={"goal": (25.5, 2.5)})  # row 5 of FourRooms is wall at column 0
    obs, _ = env.reset(seed=1, options={"start": (1.5, 1.5), "goal": (1.5, 1.5)})
    _, reward, terminated, _, _ = env.step(np.zeros(2, dtype=np.float32))
    assert reward == -1.0
