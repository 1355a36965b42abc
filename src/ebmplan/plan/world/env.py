"""SORB's point dynamics (docs/protocol.md §3) in numpy, run in batches (`PointMazeVec`) or as a
goal-conditioned gymnasium env (`PointMazeEnv`, registered as `ebmplan/PointMaze-<Map>[-Thin]-v0`) that can
render its frames.
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import cached_property

import gymnasium as gym
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from ...common.errors import ConfigError
from .maze import Maze, bundled_maps, load_maze, resize_walls

SIGMA = 1.0  # std of the scalar action noise
SUBSTEPS = 10  # each moves 0.1 * a, one axis at a time
REACH = 1.0  # the goal is reached when the distance to it is below this
RENDER_SIZE = 512  # the longest side of a rendered frame, in pixels, at most
WALL_RGB, FREE_RGB = (64, 64, 64), (245, 245, 245)
GOAL_REACH_RGB, GOAL_RGB, POINT_RGB = (250, 200, 200), (214, 39, 40), (31, 119, 180)
_FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
_GUI_BACKENDS = ("macosx", "qtagg", "gtk4agg", "gtk3agg", "tkagg", "wxagg")  # matplotlib's own order


def step_points(maze: Maze, states: np.ndarray, actions: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """SORB's dynamics for N points at once: [N, 2] states, [N, 2] actions, [N] noise -> [N, 2] states.

    `noise` is ONE scalar sample per point, added to both action components; then the action is clipped to
    [-1, 1] and applied in 10 sub-steps of 0.1 * a, one axis at a time; a sub-move into a wall or off the map
    is rejected (that coordinate stays).
    """
    a = np.clip(actions + noise[:, None], -1.0, 1.0) * (1.0 / SUBSTEPS)  # [N, 2]: 0.1 * a per sub-step
    s = np.array(states, dtype=np.float64)  # [N, 2]
    walls, (h, w) = maze.walls, maze.walls.shape
    for _ in range(SUBSTEPS):
        for axis, other, size in ((0, 1, h), (1, 0, w)):
            new = s[:, axis] + a[:, axis]
            cell = np.clip(np.floor(new).astype(np.int64), 0, size - 1)  # the far edge is in the last cell
            keep = np.clip(np.floor(s[:, other]).astype(np.int64), 0, (w, h)[axis] - 1)
            hit = walls[cell, keep] if axis == 0 else walls[keep, cell]
            ok = (new >= 0) & (new <= size) & ~hit
            s[ok, axis] = new[ok]
    return s


class PointMazeVec:
    """N copies of the point maze stepped as one batch (numpy). Goals are set by the caller.

    `step(actions)` returns `(states, reached)`; the caller resets what it wants with `reset(mask, ...)`.
    """

    def __init__(self, maze: Maze, n: int, *, seed: int = 0, sigma: float = SIGMA):
        self.maze, self.n, self.sigma = maze, n, sigma
        self.rng = np.random.default_rng(seed)
        self.states = maze.sample_free(self.rng, n)  # [N, 2]
        self.goals = maze.sample_free(self.rng, n)  # [N, 2]

    def reset(self, mask: np.ndarray | None = None, *, states: np.ndarray | None = None,
              goals: np.ndarray | None = None) -> None:
        """Reset the copies in `mask` (all by default): given or uniform start states and goals."""
        mask = np.ones(self.n, dtype=bool) if mask is None else mask
        k = int(mask.sum())
        self.states[mask] = self.maze.sample_free(self.rng, k) if states is None else states
        self.goals[mask] = self.maze.sample_free(self.rng, k) if goals is None else goals

    def noise(self, steps: int | None = None) -> np.ndarray:
        """The next step's noise [n], or the next `steps` steps' [steps, n] drawn at once (the same numbers):
        drawn up front, any subset of the n copies can then run apart with the noise it would have had."""
        size = self.n if steps is None else (steps, self.n)
        return self.rng.normal(0.0, self.sigma, size=size) if self.sigma > 0 else np.zeros(size)

    def step(self, actions: np.ndarray, noise: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Move every copy by its action [n, 2], with the given noise [n] or the next from the copies' RNG."""
        noise = self.noise() if noise is None else noise
        self.states = step_points(self.maze, self.states, actions, noise)
        reached = np.linalg.norm(self.states - self.goals, axis=-1) < REACH
        return self.states, reached


class PointMazeEnv(gym.Env):
    """One point maze as a goal-conditioned gymnasium env (dict observations, GoalEnv-style methods).

    `reset(options={"goal": (r, c), "start": (r, c)})` fixes the goal or start (a point inside a wall is a
    ConfigError); `options={"difficulty": d}` draws a start/goal pair at difficulty d ± 0.05; otherwise both
    are uniform over free space. Reward is -1 every step; the episode terminates when the goal is reached.

    `render_mode="rgb_array"`: `render()` returns a frame [H*k, W*k, 3] uint8 (k pixels per cell, the longest
    side at most `RENDER_SIZE`): walls dark grey, the goal's reach (distance < 1) light red around a red
    centre, the point blue; markers are clipped to free space, so wall pixels never change. Drawn with numpy
    from a cached background, fast enough for video. `render_mode="human"` shows the same frames in a
    matplotlib window after every reset and step (at most `render_fps` frames a second); where no interactive
    backend can start (no display), it warns once and shows nothing.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 20}

    def __init__(self, map: str = "FourRooms", resize: int = 5, thin: bool = False, sigma: float = SIGMA,
                 render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"unknown render_mode {render_mode!r}; choose one of: "
                              f"{', '.join(self.metadata['render_modes'])} (or None for no rendering)")
        self.render_mode = render_mode
        self.maze = load_maze(map, resize=resize, thin=thin)
        self.sigma = sigma
        box = gym.spaces.Box(0.0, self.maze.high.astype(np.float32), dtype=np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.state = np.zeros(2)
        self.goal = np.zeros(2)
        self._window = None  # (figure, image) of render_mode="human"; False once found impossible

    def _obs(self) -> dict[str, np.ndarray]:
        s = self.state.astype(np.float32)
        return {"observation": s, "achieved_goal": s.copy(), "desired_goal": self.goal.astype(np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        rng, maze = self.np_random, self.maze
        if "difficulty" in options:
            start, goal = maze.sample_pairs(rng, 1, float(options["difficulty"]))
        else:
            start, goal = maze.sample_free(rng, 1), maze.sample_free(rng, 1)
        if "start" in options:
            start = maze.check_free(options["start"], "start")
        if "goal" in options:
            goal = maze.check_free(options["goal"], "goal")
        self.state, self.goal = start[0], goal[0]
        if self.render_mode == "human":
            self.render()
        return self._obs(), {}

    def step(self, action):
        noise = self.np_random.normal(0.0, self.sigma, size=1) if self.sigma > 0 else np.zeros(1)
        action = np.asarray(action, dtype=np.float64)[None]  # [1, 2]
        self.state = step_points(self.maze, self.state[None], action, noise)[0]
        obs = self._obs()
        terminated = bool(self.compute_terminated(obs["achieved_goal"], obs["desired_goal"], {}))
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], {}))
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, {"is_success": terminated}

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        """-1 for every step, batched over leading dimensions (the reaching step costs 1 too; discount 1)."""
        return -np.ones(np.shape(achieved_goal)[:-1], dtype=np.float64)

    def compute_terminated(self, achieved_goal, desired_goal, info) -> np.ndarray:
        return np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1) < REACH

    def compute_truncated(self, achieved_goal, desired_goal, info) -> np.ndarray:
        return np.zeros(np.shape(achieved_goal)[:-1], dtype=bool)

    # ---- rendering -------------------------------------------------------------------------------------

    def render(self) -> np.ndarray | None:
        """The current frame [H*k, W*k, 3] uint8 ("rgb_array"), or None after drawing it in a window ("human")."""
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render mode; make the env with "
                            "render_mode='rgb_array' (frames) or 'human' (a window)")
            return None
        frame = self._frame()
        if self.render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    @cached_property
    def _pixels(self) -> int:
        """Pixels per cell: the longest side of a frame is at most RENDER_SIZE (at least 1 pixel a cell)."""
        return max(1, RENDER_SIZE // max(self.maze.height, self.maze.width))

    @cached_property
    def _background(self) -> tuple[np.ndarray, np.ndarray]:
        """(the empty maze [H*k, W*k, 3] uint8, its free pixels [H*k, W*k] bool)."""
        free = ~resize_walls(self.maze.walls, self._pixels)
        image = np.where(free[..., None], FREE_RGB, WALL_RGB).astype(np.uint8)
        return image, free

    def _frame(self) -> np.ndarray:
        image, free = self._background
        frame = image.copy()  # [H*k, W*k, 3]
        self._disc(frame, free, self.goal, REACH, GOAL_REACH_RGB)
        self._disc(frame, free, self.goal, 0.3, GOAL_RGB)
        self._disc(frame, free, self.state, 0.6, POINT_RGB)
        return frame

    def _disc(self, frame: np.ndarray, free: np.ndarray, centre: np.ndarray, radius: float, rgb) -> None:
        """Paint the free pixels whose centres lie within `radius` cells of `centre` (at least ~1.5 pixels)."""
        k = self._pixels
        r = max(radius * k, 1.5)  # in pixels
        cy, cx = centre[0] * k, centre[1] * k
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, frame.shape[0])
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, frame.shape[1])
        if y0 >= y1 or x0 >= x1:
            return
        ys = np.arange(y0, y1)[:, None] + 0.5 - cy  # [h, 1]
        xs = np.arange(x0, x1)[None, :] + 0.5 - cx  # [1, w]
        inside = (ys * ys + xs * xs <= r * r) & free[y0:y1, x0:x1]  # [h, w]
        frame[y0:y1, x0:x1][inside] = rgb

    def _show(self, frame: np.ndarray) -> None:
        """Draw `frame` in a matplotlib window, opened on first use; warn once if none can open."""
        if self._window is False:
            return
        if self._window is None or not plt.fignum_exists(self._window[0].number):
            reason = _interactive_backend()
            if reason:
                warnings.warn(f"render_mode='human' cannot open a window: {reason}; nothing will be shown. Use "
                              f"render_mode='rgb_array' for frames, or run where a display exists (set "
                              f"MPLBACKEND to a GUI backend such as TkAgg or QtAgg to choose one)", stacklevel=3)
                self._window = False
                return
            figure, ax = plt.subplots(figsize=(frame.shape[1] / 100, frame.shape[0] / 100), dpi=100)
            figure.subplots_adjust(0, 0, 1, 1)
            ax.set_axis_off()
            self._window = (figure, ax.imshow(frame, interpolation="nearest"))
            figure.canvas.manager.set_window_title(f"ebmplan {self.maze.name}")
            plt.show(block=False)
        figure, image = self._window
        image.set_data(frame)
        figure.canvas.draw_idle()
        plt.pause(1.0 / self.metadata["render_fps"])

    def close(self) -> None:
        if self._window:
            plt.close(self._window[0])
        self._window = None
        super().close()


def _interactive_backend() -> str:
    """Make pyplot's backend an interactive one; return "" on success, else why none could start.

    ebmplan's figure modules select Agg (files only), so a window needs a switch: to $MPLBACKEND if set,
    else to the first GUI backend that loads here, as matplotlib itself would choose.
    """
    if matplotlib.get_backend().lower() not in _FILE_BACKENDS:
        return ""
    wanted = os.environ.get("MPLBACKEND", "").lower()
    if wanted in _FILE_BACKENDS:
        return f"MPLBACKEND={wanted} is a file-only backend"
    errors = []
    for backend in [wanted] if wanted else _GUI_BACKENDS:
        try:
            plt.switch_backend(backend)
            return ""
        except (ImportError, ValueError) as err:  # ValueError: not a backend name
            errors.append(f"{backend}: {err}")
    no_display = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                           or os.environ.get("WAYLAND_DISPLAY"))
    return ("no display (DISPLAY and WAYLAND_DISPLAY are unset)" if no_display
            else "no interactive matplotlib backend could start (" + "; ".join(errors) + ")")


def register_envs(max_episode_steps: int = 300) -> None:
    """Register `ebmplan/PointMaze-<Name>-v0` (x5, SORB's scale) and `...-Thin-v0` for every bundled map."""
    for name in bundled_maps():
        for thin in (False, True):
            env_id = f"ebmplan/PointMaze-{name}{'-Thin' if thin else ''}-v0"
            if env_id not in gym.registry:
                gym.register(env_id, entry_point="ebmplan.plan.world.env:PointMazeEnv",
                             kwargs={"map": name, "resize": 5, "thin": thin},
                             max_episode_steps=max_episode_steps)
