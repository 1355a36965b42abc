"""The gymnasium surface: `import ebmplan` registers every maze id, check_env passes, frames are drawn."""

import json
import subprocess
import sys
import time
import warnings

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ebmplan.common.errors import ConfigError
from ebmplan.plan import PointMazeEnv
from ebmplan.plan.world import env as env_module
from ebmplan.plan.world.env import GOAL_RGB, POINT_RGB, WALL_RGB
from ebmplan.plan.world.maze import bundled_maps, resize_walls

EXPECTED_IDS = [f"ebmplan/PointMaze-{name}{thin}-v0" for name in bundled_maps() for thin in ("", "-Thin")]

FRESH = """
import json, gymnasium
import ebmplan
ids = [i for i in gymnasium.registry if i.startswith("ebmplan/")]
shapes = {}
for i in ids:
    env = gymnasium.make(i, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    shapes[i] = list(env.render().shape)
    env.close()
print(json.dumps({"ids": ids, "shapes": shapes, "plan_public": "PointMazeEnv" in ebmplan.__all__}))
"""


def test_import_ebmplan_alone_registers_every_maze_id():
    """A fresh interpreter: `import ebmplan` (not ebmplan.plan) is enough for gymnasium.make on every id."""
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["ids"] == EXPECTED_IDS
    assert found["plan_public"]
    for shape in found["shapes"].values():
        assert len(shape) == 3 and shape[2] == 3 and max(shape[:2]) <= env_module.RENDER_SIZE


@pytest.mark.parametrize("render_mode", [None, "rgb_array", "human"])
def test_check_env_passes_with_and_without_render_mode(render_mode, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "agg")  # "human" never opens a window in tests, display or not
    env = gym.make("ebmplan/PointMaze-Spiral7x7-v0", render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*cannot open a window")
        check_env(env.unwrapped)  # without a mode it also makes and checks every declared mode
    env.close()
    assert env.metadata["render_modes"] == ["human", "rgb_array"] and env.metadata["render_fps"] > 0


def test_rgb_array_frames_move_the_point_and_keep_the_walls():
    env = gym.make("ebmplan/PointMaze-FourRooms-v0", render_mode="rgb_array", sigma=0.0)
    maze = env.unwrapped.maze
    env.reset(seed=0, options={"start": (2.5, 2.5), "goal": (40.5, 40.5)})
    first = env.render()
    h, w = first.shape[:2]
    k = h // maze.height
    assert first.dtype == np.uint8 and first.shape == (maze.height * k, maze.width * k, 3) and k > 1
    walls = resize_walls(maze.walls, k)  # [H*k, W*k] wall pixels

    def point_centre(frame):
        rows, cols = np.nonzero((frame == POINT_RGB).all(-1))
        assert len(rows) > 0, "the point is not drawn"
        return np.array([rows.mean() + 0.5, cols.mean() + 0.5]) / k  # in cells

    np.testing.assert_allclose(point_centre(first), (2.5, 2.5), atol=0.1)
    assert (first[walls] == WALL_RGB).all()
    assert (first == GOAL_RGB).all(-1).any()
    saved = first.copy()
    for _ in range(5):
        env.step(np.array([1.0, 1.0], dtype=np.float32))
    later = env.render()
    np.testing.assert_allclose(point_centre(later), (7.5, 7.5), atol=0.1)  # 5 steps of one cell, no noise
    np.testing.assert_array_equal(later[walls], first[walls])
    np.testing.assert_array_equal(first, saved)  # each frame is a new array
    assert not (later == first).all()

    # a point pressed against a wall is clipped by it: wall pixels never change
    env.reset(options={"start": (2.5, 24.95), "goal": (2.5, 20.5)})  # column 25 is wall in these rows
    near = env.render()
    assert (near[walls] == WALL_RGB).all() and (near == POINT_RGB).all(-1).any()

    start = time.perf_counter()
    for _ in range(100):
        env.render()
    assert time.perf_counter() - start < 2.0, "100 frames should take milliseconds, not seconds"


def test_unknown_render_mode_is_refused_with_the_choices():
    with (pytest.raises(ConfigError, match=r"unknown render_mode 'video'; choose one of: human, rgb_array"),
          pytest.warns(UserWarning, match="not in the possible render_modes")):  # gymnasium's own note first
        gym.make("ebmplan/PointMaze-FourRooms-v0", render_mode="video")
    with pytest.raises(ConfigError, match="render_mode"):
        PointMazeEnv("Small", render_mode="rgb")
    env = gym.make("ebmplan/PointMaze-Small-v0", render_mode="rgb_array_list")  # gymnasium's own wrapper
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert len(env.render()) == 2


def test_human_mode_without_a_display_warns_once_and_shows_nothing(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "agg")
    env = PointMazeEnv("Small", render_mode="human")
    with pytest.warns(UserWarning, match="render_mode='human' cannot open a window: MPLBACKEND=agg"):
        env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.step(env.action_space.sample())
        assert env.render() is None
    env.close()


def test_human_mode_window_shows_the_rgb_frames(monkeypatch):
    """With an interactive backend, each reset and step updates one window; close() closes it."""
    monkeypatch.setattr(env_module, "_interactive_backend", lambda: "")  # pretend one started (Agg draws)
    monkeypatch.setattr(env_module.plt, "pause", lambda interval: None)
    monkeypatch.setattr(env_module.plt, "show", lambda **kwargs: None)
    env = PointMazeEnv("FourRooms", render_mode="human")
    env.reset(seed=0)
    figure, image = env._window
    env.step(env.action_space.sample())
    assert env._window[0] is figure
    env.render_mode = "rgb_array"
    np.testing.assert_array_equal(image.get_array(), env.render())
    env.close()
    assert not plt.fignum_exists(figure.number)
