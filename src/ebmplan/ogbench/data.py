"""OGBench's point-maze datasets, made here by OGBench's own recipe, and read back checked.

The recipe is `data_gen_scripts/generate_locomaze.py` with the flags `data_gen_scripts/commands.sh` gives each
point-maze dataset (`RECIPES`). The point's "expert" steers toward the env's oracle subgoal (the next cell on a
BFS shortest path, `get_oracle_subgoal`): action = unit direction + N(0, 0.5^2) noise, clipped to [-1, 1].
`navigate`: start anywhere, goal a random "vertex" (non-corridor) cell, a new goal each time one is reached;
`stitch`: goal a cell exactly 4 cells (BFS) from the start. Episodes never end early (`terminate_at_goal=False`),
so each has `max_episode_steps` rows, the last one's `terminals` True. A tenth more episodes form the
validation split (`<name>-val.npz`).

Upstream draws everything from the global `np.random` and never seeds it, so no one can reproduce the published
files; here `generate` runs the same draws in the same order under `np.random` seeded with `seed` (and seeds
the env's own generator, which only sets the first row of each episode's `qvel`), so one seed gives one file.
Run beside upstream's script under `np.random.seed(seed)`, every array is identical but those first `qvel`
rows (docs/results/ogbench.md). The oracle's answer depends only on the (start cell, goal cell) pair, so it is
memoised: the same actions, 2-2.5 times faster.

Layout (as OGBench's files, and as `ogbench.utils.load_dataset` reads them): `observations` [N, 2] float32 (x, y),
`actions` [N, 2] float32, `terminals` [N] bool (True on each trajectory's last row), `qpos` [N, 2] and `qvel`
[N, 2] float32. Row t is (s_t, a_t); the last row of a trajectory has no next state.

One module of ~360 lines because making a dataset and reading one back share its layout and checks (a file
this module writes must pass what it refuses in a user's file), and nothing else uses them.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import ConfigError
from ..common.files import atomic_path, read_json, write_json
from .evaluation import DATASETS, check_name, global_numpy_seed, layout, make_env

SOURCE = "github.com/seohongpark/ogbench data_gen_scripts/generate_locomaze.py with the flags of commands.sh"
KEYS = ("observations", "actions", "terminals", "qpos", "qvel")
REQUIRED = ("observations", "actions", "terminals")  # qpos and qvel are extra information (OGBench's add_info)


@dataclass(frozen=True)
class Recipe:
    """The flags commands.sh passes generate_locomaze.py for one dataset."""

    env: str  # e.g. pointmaze-medium-v0
    kind: str  # navigate or stitch
    episodes: int  # training episodes; a tenth more for validation
    max_episode_steps: int  # rows per episode
    noise: float = 0.5  # std of the Gaussian action noise


def _recipe(name: str) -> Recipe:
    maze, kind = name.split("-")[1:3]
    if kind == "stitch":
        return Recipe(f"pointmaze-{maze}-v0", kind, 5000, 201)
    return Recipe(f"pointmaze-{maze}-v0", kind, 500 if maze == "giant" else 1000, 2001 if maze == "giant" else 1001)


RECIPES: dict[str, Recipe] = {name: _recipe(name) for name in DATASETS}


def _cells(maze_map: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """All free cells and the "vertex" cells (free cells that are not a straight corridor), in upstream's order."""
    all_cells, vertex_cells = [], []
    for i in range(maze_map.shape[0]):
        for j in range(maze_map.shape[1]):
            if maze_map[i, j] != 0:
                continue
            all_cells.append((i, j))
            up_down = maze_map[i - 1, j] == 0 and maze_map[i + 1, j] == 0
            left_right = maze_map[i, j - 1] == 0 and maze_map[i, j + 1] == 0
            walls_lr = maze_map[i, j - 1] == 1 and maze_map[i, j + 1] == 1
            walls_ud = maze_map[i - 1, j] == 1 and maze_map[i + 1, j] == 1
            if (up_down and walls_lr) or (left_right and walls_ud):
                continue  # a hallway cell
            vertex_cells.append((i, j))
    return all_cells, vertex_cells


def _cells_at(maze_map: np.ndarray, start: tuple[int, int], steps: int) -> list[tuple[int, int]]:
    """The free cells exactly `steps` BFS moves from `start`, in the order upstream's BFS finds them."""
    dist = np.full(maze_map.shape, -1)
    dist[start] = 0
    queue, found = [start], []
    while queue:
        i, j = queue.pop(0)
        for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
            ni, nj = i + di, j + dj
            if (0 <= ni < maze_map.shape[0] and 0 <= nj < maze_map.shape[1] and maze_map[ni, nj] == 0
                    and dist[ni, nj] == -1):
                dist[ni, nj] = dist[i, j] + 1
                queue.append((ni, nj))
                if dist[ni, nj] == steps:
                    found.append((ni, nj))
    return found


def collect(name: str, *, seed: int, episodes: int | None = None,
            on_episode: Callable[[int], None] | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The (train, validation) arrays of dataset `name` by OGBench's recipe under `seed`; `episodes` replaces
    the recipe's number of training episodes (validation: a tenth of it, as upstream). `on_episode(done)` is
    called after each episode (a progress bar)."""
    recipe = RECIPES[check_name(name)]
    n_train = recipe.episodes if episodes is None else episodes
    if n_train < 10:
        raise ConfigError(f"--episodes must be at least 10 so that the validation split (a tenth) holds an "
                          f"episode, got {n_train}")
    n_val = n_train // 10
    env = make_env(name, terminate_at_goal=False, max_episode_steps=recipe.max_episode_steps)
    maze = env.unwrapped
    all_cells, vertex_cells = _cells(maze.maze_map)
    oracle: dict[tuple, np.ndarray] = {}  # (start cell, goal cell) -> the env's oracle subgoal

    rows: dict[str, list[np.ndarray]] = {k: [] for k in KEYS}
    train_rows = 0
    env.action_space.seed(seed)  # the reset's random settling steps, whose effect the reset overwrites
    with global_numpy_seed(seed):  # np.random.seed(seed): upstream's draws, which follow, are all global
        for ep in range(n_train + n_val):
            # From here on, the draws of generate_locomaze.py, in its order.
            init_ij = all_cells[np.random.randint(len(all_cells))]
            if recipe.kind == "navigate":
                goal_ij = vertex_cells[np.random.randint(len(vertex_cells))]
            else:
                near = _cells_at(maze.maze_map, init_ij, 4)
                goal_ij = near[np.random.randint(len(near))] if near else init_ij
            ob, _ = env.reset(seed=seed if ep == 0 else None,
                              options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij)))
            episode: dict[str, list] = {k: [] for k in KEYS}
            done = False
            while not done:
                xy = maze.get_xy()
                key = (maze.xy_to_ij(xy), maze.xy_to_ij(maze.cur_goal_xy))
                if key not in oracle:
                    oracle[key] = maze.get_oracle_subgoal(xy, maze.cur_goal_xy)[0]
                direction = oracle[key] - xy
                direction = direction / (np.linalg.norm(direction) + 1e-6)
                # the point's actor returns the subgoal direction itself; then the noise and the clip
                action = np.clip(direction + np.random.normal(0, recipe.noise, direction.shape), -1, 1)
                next_ob, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if info["success"] and recipe.kind == "navigate":
                    maze.set_goal(vertex_cells[np.random.randint(len(vertex_cells))])
                for k, v in (("observations", ob), ("actions", action), ("terminals", done),
                             ("qpos", info["prev_qpos"]), ("qvel", info["prev_qvel"])):
                    episode[k].append(v)
                ob = next_ob
            for k in KEYS:  # stored at once in the file's dtype: the same cast upstream makes at the end
                rows[k].append(np.array(episode[k], dtype=bool if k == "terminals" else np.float32))
            if ep < n_train:
                train_rows += len(episode["terminals"])
            if on_episode is not None:
                on_episode(ep + 1)
    env.close()
    whole = {k: np.concatenate(v) for k, v in rows.items()}
    return ({k: v[:train_rows] for k, v in whole.items()}, {k: v[train_rows:] for k, v in whole.items()})


def versions() -> dict[str, str]:
    return {p: installed(p) for p in ("ogbench", "mujoco", "gymnasium", "numpy")}


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """A checksum of the arrays themselves (names, dtypes, shapes, values): equal for equal data, unlike the
    file's bytes, which hold the time the zip was written."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as upstream does (`np.savez_compressed`), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no ".npz" to the name
        np.savez_compressed(f, **arrays)


@dataclass(frozen=True)
class Generated:
    train: Path  # <out>/<name>.npz
    val: Path  # <out>/<name>-val.npz
    record: Path  # <out>/<name>.json


def generate(name: str, *, seed: int, out: str | Path, episodes: int | None = None,
             on_episode: Callable[[int], None] | None = None) -> Generated:
    """Make dataset `name` by OGBench's recipe under `seed` (see `collect`) into folder `out`: `<name>.npz`,
    `<name>-val.npz` (OGBench's file names, so `ogbench.make_env_and_datasets(name, dataset_dir=out)` reads
    them) and `<name>.json`, the record of the seed, the recipe, the versions and the arrays' checksums."""
    recipe = RECIPES[check_name(name)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, val = collect(name, seed=seed, episodes=episodes, on_episode=on_episode)
    seconds = time.perf_counter() - start
    made = Generated(out / f"{name}.npz", out / f"{name}-val.npz", out / f"{name}.json")
    save_npz(made.train, train)
    save_npz(made.val, val)
    n_train = recipe.episodes if episodes is None else episodes
    write_json(made.record, {
        "dataset": name, "seed": seed, "source": SOURCE,
        "recipe": {"env": recipe.env, "dataset_type": recipe.kind, "num_episodes": n_train,
                   "val_episodes": n_train // 10, "max_episode_steps": recipe.max_episode_steps,
                   "noise": recipe.noise, "full_size": episodes is None or episodes == recipe.episodes},
        "versions": versions(), "seconds": seconds,
        "files": {split: {"file": p.name, "rows": int(len(a["terminals"])), "content_sha256": content_sha256(a)}
                  for split, p, a in (("train", made.train, train), ("val", made.val, val))}})
    return made


@dataclass(frozen=True)
class Dataset:
    """One checked point-maze file: its arrays and its trajectories' boundaries (from `terminals`)."""

    path: Path
    name: str | None  # the OGBench dataset it belongs to, when its file name or record says so
    observations: np.ndarray  # [N, 2] float32 (x, y)
    actions: np.ndarray  # [N, 2] float32 in [-1, 1]
    terminals: np.ndarray  # [N] bool, True on each trajectory's last row
    qpos: np.ndarray | None  # [N, 2] float32, when the file has it
    qvel: np.ndarray | None  # [N, 2] float32, when the file has it
    starts: np.ndarray  # [E] int64: first row of each trajectory
    ends: np.ndarray  # [E] int64: last row of each trajectory (inclusive)

    @property
    def rows(self) -> int:
        return len(self.terminals)

    @property
    def episodes(self) -> int:
        return len(self.starts)

    @property
    def transitions(self) -> int:
        """(s, a, s') pairs: every row but each trajectory's last (OGBench's `load_dataset` drops those)."""
        return self.rows - self.episodes

    @property
    def valid(self) -> np.ndarray:
        """[N] bool: rows whose next row is their next state (all but each trajectory's last; OGBench's
        `valids`)."""
        valid = np.ones(self.rows, dtype=bool)
        valid[self.ends] = False
        return valid

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts + 1  # [E] rows per trajectory


def _dataset_name(path: Path) -> str | None:
    """The OGBench dataset a file is of: its record's `dataset`, else its file name (`<name>[-val].npz`)."""
    stem = path.name.removesuffix(".npz").removesuffix("-val")
    record = path.with_name(f"{stem}.json")
    if record.is_file():
        try:
            name = read_json(record).get("dataset")
        except (ConfigError, AttributeError):
            name = None
        if name in RECIPES:
            return name
    return stem if stem in RECIPES else None


def resolve(path_or_name: str | Path, *, split: str = "train", data_dir: str | Path | None = None) -> Path:
    """The file meant by `path_or_name`: an `.npz` path; a folder holding `<name>.npz` (an `ebmplan ogbench
    data` run folder); or a dataset name, looked up in `data_dir` (default OGBench's ~/.ogbench/data) as
    `<name>.npz` or `<name>/<name>.npz`. `split="val"` gives the `-val` file beside it."""
    if split not in ("train", "val"):
        raise ConfigError(f"unknown split {split!r}; choose one of: train, val")
    suffix = "-val.npz" if split == "val" else ".npz"
    given = Path(path_or_name)
    if str(path_or_name) in RECIPES and not given.exists():
        folder = Path(data_dir or "~/.ogbench/data").expanduser()
        for candidate in (folder / f"{given}{suffix}", folder / str(given) / f"{given}{suffix}"):
            if candidate.is_file():
                return candidate
        raise ConfigError(f"dataset {given} is not in {folder}; make it with: ebmplan ogbench data --dataset "
                          f"{given} --out {folder / str(given)}")
    if given.is_dir():
        found = sorted(p for p in given.glob(f"*{suffix}") if split == "val" or not p.name.endswith("-val.npz"))
        if len(found) != 1:
            raise ConfigError(f"folder {given} holds {len(found)} {split} .npz files; give the file itself")
        return found[0]
    if split == "val":
        given = given.with_name(given.name.removesuffix(".npz") + "-val.npz")
    if not given.is_file():
        raise ConfigError(f"dataset file {given} does not exist; give an .npz in OGBench's layout or one of: "
                          f"{', '.join(RECIPES)}")
    return given


def load(path_or_name: str | Path, *, split: str = "train", data_dir: str | Path | None = None) -> Dataset:
    """Read and check a point-maze `.npz` (see `resolve` for what `path_or_name` may be); any file that breaks
    the layout (module docstring) is one ConfigError saying how."""
    path = resolve(path_or_name, split=split, data_dir=data_dir)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in KEYS if k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, io.UnsupportedOperation) as err:
        raise ConfigError(f"{path} is not a readable .npz file ({str(err).splitlines()[0][:100]})") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}; an OGBench dataset holds {', '.join(KEYS)}")
    n = len(arrays["terminals"]) if arrays["terminals"].ndim == 1 else -1
    if n < 2:
        raise ConfigError(f"{path}: terminals must be a vector of at least 2 rows, got shape "
                          f"{arrays['terminals'].shape}")
    for k, a in arrays.items():
        if k == "terminals":
            if a.dtype != bool and not (np.issubdtype(a.dtype, np.number) and np.isin(a, (0, 1)).all()):
                raise ConfigError(f"{path}: terminals must be booleans (or 0/1), got dtype {a.dtype}")
            continue
        if a.shape != (n, 2):
            raise ConfigError(f"{path}: {k} must have shape ({n}, 2) (a point maze's x, y per row), got {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise ConfigError(f"{path}: {k} must hold floats, got dtype {a.dtype}")
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        if len(bad):
            raise ConfigError(f"{path}: {k} is not finite in {len(bad)} rows, the first at row {bad[0]}")
    if np.abs(arrays["actions"]).max() > 1:
        raise ConfigError(f"{path}: actions must lie in [-1, 1] (the env's action space), the largest is "
                          f"{np.abs(arrays['actions']).max():.4g}")
    terminals = arrays["terminals"].astype(bool)
    if not terminals[-1]:
        raise ConfigError(f"{path}: the last row's terminal is False, so its last trajectory never ends")
    ends = np.flatnonzero(terminals)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if (ends - starts < 1).any():
        raise ConfigError(f"{path}: the trajectory ending at row {ends[np.argmax(ends - starts < 1)]} has one row, "
                          f"so no transition")
    as32 = {k: arrays[k].astype(np.float32, copy=False) for k in ("observations", "actions", "qpos", "qvel")
            if k in arrays}
    return Dataset(path=path, name=_dataset_name(path), terminals=terminals, starts=starts, ends=ends,
                   qpos=as32.get("qpos"), qvel=as32.get("qvel"),
                   observations=as32["observations"], actions=as32["actions"])


def statistics(data: Dataset) -> dict[str, Any]:
    """What a dataset holds, as the paper counts it: rows, (s, a, s') transitions, trajectories and their
    lengths; and, when the maze is known, the share of its free cells the observations visit and the distinct
    cells a trajectory visits on average (ground truth, for scoring only)."""
    lengths = data.lengths
    stats: dict[str, Any] = {
        "rows": data.rows, "transitions": data.transitions, "episodes": data.episodes,
        "episode_length_min": int(lengths.min()), "episode_length_max": int(lengths.max()),
        "episode_length_mean": float(lengths.mean()),
        "action_norm_mean": float(np.linalg.norm(data.actions, axis=1).mean()),
        "coverage": None}
    if data.name is not None:
        maze = layout(data.name)
        stats["coverage"] = maze.coverage(data.observations)
        stats["free_cells"] = int(maze.free.sum())
        trajectory = np.repeat(np.arange(data.episodes), data.lengths)  # [N] the trajectory of each row
        stats["cells_per_episode"] = maze.cells_per_group(data.observations, trajectory)
    return stats
