"""Point mazes: maps, SORB's point dynamics (docs/protocol.md §3) in numpy, a gymnasium env, true distances.

Coordinates: a state is a continuous point `(row, col)` in `[0, H] x [0, W]`; cell `(i, j)` covers
`[i, i+1) x [j, j+1)` (the far edge `H` or `W` belongs to the last cell). Distances are in cells of the
scaled map.

Map text format: rows of `#` (wall) and `.` (free), one row per line, all rows equally long. Blank lines and
lines starting with `# ` (hash, space) are skipped; an optional header line `== NAME HxW` names the map. The
bundled file `sorb_maps.txt` holds SORB's maps as such blocks.

The ground truth (`Maze.distances`, `true_distance`, `sample_pairs`) is the all-pairs shortest path over free
cells, 8-connected, every move cost 1, as SORB computes it. It is for goal sampling and evaluation only; no
learner sees it.
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import cached_property
from pathlib import Path

import gymnasium as gym
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from ..errors import ConfigError

MAPS_FILE = Path(__file__).with_name("sorb_maps.txt")
SIGMA = 1.0  # std of the scalar action noise
SUBSTEPS = 10  # each moves 0.1 * a, one axis at a time
REACH = 1.0  # the goal is reached when the distance to it is below this
RENDER_SIZE = 512  # the longest side of a rendered frame, in pixels, at most
WALL_RGB, FREE_RGB = (64, 64, 64), (245, 245, 245)
GOAL_REACH_RGB, GOAL_RGB, POINT_RGB = (250, 200, 200), (214, 39, 40), (31, 119, 180)
_FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
_GUI_BACKENDS = ("macosx", "qtagg", "gtk4agg", "gtk3agg", "tkagg", "wxagg")  # matplotlib's own order


def parse_maps(text: str, source: str = "map") -> dict[str, np.ndarray]:
    """Parse one or more `#`/`.` maps into `{name: walls [H, W] bool}`; any defect is one ConfigError."""
    maps: dict[str, list[str]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    name = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("=="):
            parts = line[2:].split()
            if not parts:
                raise ConfigError(f"{source} line {number}: a header needs a name, like '== NAME HxW'")
            name = parts[0]
            if name in maps:
                raise ConfigError(f"{source} line {number}: map {name!r} is defined twice")
            maps[name] = []
            if len(parts) > 1:
                try:
                    h, w = (int(v) for v in parts[1].lower().split("x"))
                except ValueError:
                    raise ConfigError(f"{source} line {number}: size {parts[1]!r} is not HxW") from None
                sizes[name] = (h, w)
            continue
        bad = set(line) - {"#", "."}
        if bad:
            raise ConfigError(f"{source} line {number}: unknown character {sorted(bad)[0]!r}; a map uses "
                              f"only '#' (wall) and '.' (free)")
        if name is None:
            name = Path(source).stem
            maps[name] = []
        rows = maps[name]
        if rows and len(line) != len(rows[0]):
            raise ConfigError(f"{source} line {number}: row has {len(line)} cells but the map's first row "
                              f"has {len(rows[0])}; all rows must be equally long")
        rows.append(line)
    if not maps:
        raise ConfigError(f"{source} holds no map rows of '#' and '.'")
    out = {}
    for name, rows in maps.items():
        if not rows:
            raise ConfigError(f"{source}: map {name!r} has no rows")
        walls = np.array([[c == "#" for c in row] for row in rows], dtype=bool)
        if name in sizes and walls.shape != sizes[name]:
            raise ConfigError(f"{source}: map {name!r} is {walls.shape[0]}x{walls.shape[1]}, but its header "
                              f"says {sizes[name][0]}x{sizes[name][1]}")
        out[name] = walls
    return out


def bundled_maps() -> dict[str, np.ndarray]:
    """SORB's maps by name (unscaled)."""
    return parse_maps(MAPS_FILE.read_text(), source=MAPS_FILE.name)


def resize_walls(walls: np.ndarray, k: int) -> np.ndarray:
    """Each cell becomes a k x k block (SORB's scaling)."""
    return np.repeat(np.repeat(walls, k, axis=0), k, axis=1)


def thin_walls(walls: np.ndarray, k: int) -> np.ndarray:
    """Scale by k keeping walls one cell thick: only free space widens.

    A wall cell becomes a line one cell wide through the centre of its k x k block, joining its wall
    neighbours (the map edge counts as wall) with straight lines and diagonal neighbours with a staircase
    that the point cannot slip through. Free pockets that thinning cuts off (e.g. between a border wall and
    the map edge) are filled, so the free space stays one region.
    """
    h, w = walls.shape
    out = np.zeros((h * k, w * k), dtype=bool)
    c = k // 2
    padded = np.pad(walls, 1, constant_values=True)
    for i, j in zip(*np.nonzero(walls), strict=True):
        block = out[i * k:(i + 1) * k, j * k:(j + 1) * k]
        block[c, c] = True
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if padded[i + 1 + di, j + 1 + dj]:
                rows = slice(0, c + 1) if di < 0 else slice(c, k) if di > 0 else c
                cols = slice(0, c + 1) if dj < 0 else slice(c, k) if dj > 0 else c
                block[rows, cols] = True
        for di, dj in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            corner_open = not padded[i + 1 + di, j + 1] and not padded[i + 1, j + 1 + dj]
            if padded[i + 1 + di, j + 1 + dj] and corner_open:
                for t in range(k - c):
                    r, q = c + di * t, c + dj * t
                    if 0 <= r < k and 0 <= q < k:
                        block[r, q] = True
    labels, n = ndimage.label(~out)
    if n > 1:  # keep the free region that holds the centres of the original free cells
        centres = labels[np.nonzero(~walls)[0] * k + c, np.nonzero(~walls)[1] * k + c]
        main = np.bincount(centres[centres > 0]).argmax()
        out |= labels != main
    return out


class Maze:
    """A wall grid with the ground truth over its free cells. Build with `load_maze`."""

    def __init__(self, walls: np.ndarray, name: str = "map"):
        self.walls = np.ascontiguousarray(walls, dtype=bool)  # [H, W]
        self.name = name
        self.height, self.width = self.walls.shape
        self.high = np.array([self.height, self.width], dtype=np.float64)
        if self.walls.all():
            raise ConfigError(f"map {name!r} has no free cell")
        _, regions = ndimage.label(~self.walls)
        if regions > 1:
            raise ConfigError(f"map {name!r} has {regions} separate free regions; goals could be "
                              f"unreachable, so every free cell must connect to every other")
        self.cells = np.argwhere(~self.walls)  # [F, 2] free cells, row-major
        self.index = np.full(self.walls.shape, -1, dtype=np.int64)  # cell -> row of `cells`, -1 for walls
        self.index[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))

    @cached_property
    def distances(self) -> np.ndarray:
        """All-pairs shortest path [F, F] (int16) between free cells: 8-connected, every move cost 1."""
        f = len(self.cells)
        src, dst = [], []
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di == dj == 0:
                    continue
                n = self.cells + (di, dj)  # [F, 2]
                ok = (n[:, 0] >= 0) & (n[:, 0] < self.height) & (n[:, 1] >= 0) & (n[:, 1] < self.width)
                target = np.full(f, -1)
                target[ok] = self.index[n[ok, 0], n[ok, 1]]
                keep = target >= 0
                src.append(np.flatnonzero(keep))
                dst.append(target[keep])
        src, dst = np.concatenate(src), np.concatenate(dst)
        graph = csr_matrix((np.ones(len(src)), (src, dst)), shape=(f, f))
        out = np.empty((f, f), dtype=np.int16)
        for start in range(0, f, 1024):  # chunks keep the float64 intermediate small on big maps
            rows = np.arange(start, min(start + 1024, f))
            out[rows] = shortest_path(graph, method="D", unweighted=True, indices=rows)
        return out

    @cached_property
    def max_distance(self) -> int:
        """The longest shortest path of the map: difficulty 1."""
        return int(self.distances.max())

    def cell_of(self, states: np.ndarray) -> np.ndarray:
        """[N, 2] states -> [N, 2] integer cells (the far edge belongs to the last cell)."""
        cells = np.floor(states).astype(np.int64)
        return np.minimum(np.maximum(cells, 0), [self.height - 1, self.width - 1])

    def blocked(self, states: np.ndarray) -> np.ndarray:
        """[N, 2] -> [N] bool: outside `[0, H] x [0, W]` or inside a wall."""
        inside = (states >= 0).all(-1) & (states <= self.high).all(-1)
        cells = self.cell_of(states)
        return ~inside | self.walls[cells[:, 0], cells[:, 1]]

    def check_free(self, states: np.ndarray, what: str = "state") -> np.ndarray:
        """Return `states` as [N, 2] float64, or raise a ConfigError if one is outside free space."""
        states = np.asarray(states, dtype=np.float64).reshape(-1, 2)
        bad = self.blocked(states)
        if bad.any():
            raise ConfigError(f"{what} {tuple(states[bad][0].round(3))} is inside a wall or outside the "
                              f"{self.height}x{self.width} map {self.name!r}")
        return states

    def true_distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Shortest-path distance between the cells of states `a` and `b` ([N, 2] each) -> [N] float."""
        ca, cb = self.cell_of(np.asarray(a).reshape(-1, 2)), self.cell_of(np.asarray(b).reshape(-1, 2))
        ia, ib = self.index[ca[:, 0], ca[:, 1]], self.index[cb[:, 0], cb[:, 1]]
        return self.distances[ia, ib].astype(np.float64)

    def sample_free(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """[n, 2] states uniform over free cells plus U[0,1)^2 inside the cell (SORB's start states)."""
        return self.cells[rng.integers(len(self.cells), size=n)] + rng.random((n, 2))

    def sample_near(self, rng: np.random.Generator, states: np.ndarray, max_dist: float) -> np.ndarray:
        """[N, 2] goals, each uniform over the cells within `max_dist` of its state (plus U[0,1)^2)."""
        c = self.cell_of(states)
        near = self.distances[self.index[c[:, 0], c[:, 1]]] <= max_dist  # [N, F]
        pick = (rng.random(near.shape) * near).argmax(1)  # uniform among the near cells (own cell included)
        return self.cells[pick] + rng.random((len(states), 2))

    def sample_pairs(self, rng: np.random.Generator, n: int, difficulty: float,
                     width: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """(starts, goals) [n, 2] each, uniform over cell pairs at difficulty d ± width (docs/protocol.md §3).

        Difficulty is the true distance over the map's longest shortest path.
        """
        d = self.distances / self.max_distance
        pairs = np.flatnonzero(np.abs(d - difficulty) <= width + 1e-9)
        if len(pairs) == 0:
            raise ConfigError(f"map {self.name!r} has no pair of cells at difficulty {difficulty} ± {width}")
        chosen = pairs[rng.integers(len(pairs), size=n)]
        f = len(self.cells)
        starts = self.cells[chosen // f] + rng.random((n, 2))
        goals = self.cells[chosen % f] + rng.random((n, 2))
        return starts, goals


def load_maze(name: str = "FourRooms", resize: int = 5, thin: bool = False) -> Maze:
    """A bundled map by name, or a map file by path, scaled by `resize` (thin: walls stay one cell thick)."""
    if resize < 1:
        raise ConfigError(f"--resize must be at least 1, got {resize}")
    maps = bundled_maps()
    if name in maps:
        walls = maps[name]
    else:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"unknown map {name!r}: not a file, and not a bundled map (choose one of: "
                              f"{', '.join(maps)})")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"map file {path} cannot be read ({err})") from None
        found = parse_maps(text, source=str(path))
        if len(found) > 1:
            raise ConfigError(f"map file {path} holds {len(found)} maps; give it exactly one")
        (name, walls), = found.items()
    if thin and resize > 1:
        walls = thin_walls(walls, resize)
    else:
        walls = resize_walls(walls, resize)
    return Maze(walls, name=name)


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
                gym.register(env_id, entry_point="ebmplan.plan.maze:PointMazeEnv",
                             kwargs={"map": name, "resize": 5, "thin": thin},
                             max_episode_steps=max_episode_steps)
