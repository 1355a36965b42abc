"""OGBench's goal-conditioned evaluation of a point-maze policy, exactly as `impls/main.py` runs it.

For each of the maze's five tasks (`env.unwrapped.task_infos`, `task_id` 1-5): `episodes` episodes (the paper's
point-maze runs use 50, `--eval_episodes=50` in `impls/hyperparameters.sh`), each reset with
`options=dict(task_id=k)` (start and goal cell with OGBench's +-1 uniform noise), the goal being `info['goal']`;
the policy's action is clipped to [-1, 1]; the episode ends at success (distance <= 1.0, the env terminates
there) or at the registered limit (1000 steps); an episode's success is the last step's `info['success']`; a
task's success is the mean over its episodes and the overall success the mean over tasks.

Seeding (OGBench does not seed its evaluation): the start and goal noise and the teleport maze's exit pad are
drawn from the global `np.random`, so each task runs under `np.random` seeded from (seed, task_id), the state the
caller had being restored afterwards; the env's own generator is seeded too. One task alone gives the same
episodes as that task inside a full evaluation.

The maze layout (`free_cells`, `cells_of`) is ground truth: for scoring and dataset coverage only, never for a
method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..common.errors import ConfigError

MAZES = ("medium", "large", "giant", "teleport")
KINDS = ("navigate", "stitch")
DATASETS = tuple(f"pointmaze-{maze}-{kind}-v0" for maze in MAZES for kind in KINDS)
DEFAULT_EPISODES = 50  # per task, as OGBench's point-maze runs (impls/hyperparameters.sh)


class Policy(Protocol):
    """A goal-conditioned policy: `act(observation [2], goal [2]) -> action [2]` (numpy). It may also have
    `reset(observation, goal)`, called at the start of each episode (a planner builds its plan there)."""

    def __call__(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray: ...


def require_ogbench() -> Any:
    """The `ogbench` module, or one ConfigError saying how to install it."""
    try:
        import ogbench
    except ImportError:
        raise ConfigError("OGBench's point mazes need the ogbench package, which is not installed; install it with "
                          "pip install 'ebmplan[datasets]' (or pip install ogbench)") from None
    return ogbench


def check_name(name: str) -> str:
    """`name` if it is one of the eight point-maze datasets, else one ConfigError listing them."""
    if name not in DATASETS:
        raise ConfigError(f"unknown OGBench point-maze dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return name


def make_env(name: str, **env_kwargs: Any) -> Any:
    """The gymnasium env of dataset `name` (e.g. pointmaze-giant-stitch-v0 gives pointmaze-giant-v0), made by
    OGBench's own `make_env_and_datasets(name, env_only=True)`; `env_kwargs` go to `gymnasium.make`."""
    ogbench = require_ogbench()
    return ogbench.make_env_and_datasets(check_name(name), env_only=True, **env_kwargs)


@dataclass(frozen=True)
class Layout:
    """A maze's cells (ground truth, for scoring only): `free[i, j]` for row i (y) and column j (x), and the
    map from positions to cells OGBench uses (`xy_to_ij`)."""

    free: np.ndarray  # [H, W] bool
    unit: float  # cell size (4.0)
    offset: tuple[float, float]  # (x, y) offset of cell (0, 0)'s centre, negated

    def cells_of(self, xy: np.ndarray) -> np.ndarray:
        """The cell (i, j) of each position, as OGBench's `xy_to_ij` (int() of a positive number: floor)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)  # [N, 2]
        j = np.floor((xy[:, 0] + self.offset[0] + 0.5 * self.unit) / self.unit).astype(np.int64)
        i = np.floor((xy[:, 1] + self.offset[1] + 0.5 * self.unit) / self.unit).astype(np.int64)
        return np.stack([i, j], axis=1)  # [N, 2]

    def free_cell_ids(self, xy: np.ndarray) -> np.ndarray:
        """[N] the flat index (i * W + j) of each position's cell, or -1 where that is not a free cell."""
        ij = self.cells_of(xy)
        h, w = self.free.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < h) & (ij[:, 1] >= 0) & (ij[:, 1] < w)
        ids = np.where(inside, ij[:, 0] * w + ij[:, 1], -1)
        return np.where(inside & self.free.ravel()[np.clip(ids, 0, None)], ids, -1)

    def coverage(self, xy: np.ndarray) -> float:
        """Share of the free cells that hold at least one of the positions `xy` [N, 2]."""
        ids = self.free_cell_ids(xy)
        return float(len(np.unique(ids[ids >= 0])) / self.free.sum())

    def cells_per_group(self, xy: np.ndarray, group: np.ndarray) -> float:
        """Mean number of distinct free cells the positions of each group (e.g. a trajectory) visit; `group`
        [N] holds integers 0..G-1."""
        ids = self.free_cell_ids(xy)
        keep = ids >= 0
        pairs = np.unique(group[keep].astype(np.int64) * self.free.size + ids[keep])
        return float(len(pairs) / (int(group.max()) + 1))


def layout(name: str) -> Layout:
    """The free cells of dataset `name`'s maze (OGBench's `maze_map == 0`), for scoring and coverage only."""
    env = make_env(name).unwrapped
    return Layout(free=np.asarray(env.maze_map) == 0, unit=float(env._maze_unit),
                  offset=(float(env._offset_x), float(env._offset_y)))


@contextmanager
def global_numpy_seed(seed: Sequence[int] | int) -> Iterator[None]:
    """Run the block under the global `np.random` seeded with `seed` (OGBench's envs draw from it): an int as
    `np.random.seed(seed)`, several ints through `np.random.SeedSequence`; then put back the caller's state."""
    saved = np.random.get_state()
    np.random.seed(seed if isinstance(seed, int) else np.random.SeedSequence(list(seed)).generate_state(4))
    try:
        yield
    finally:
        np.random.set_state(saved)


@dataclass
class Evaluation:
    """The outcome of `evaluate`: per task, each episode's success and length; the summaries OGBench logs."""

    dataset: str
    seed: int
    episodes: int  # per task
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task name -> its record (see evaluate)
    seconds: float = 0.0

    @property
    def task_success(self) -> dict[str, float]:
        """Success rate of each task (OGBench's `evaluation/<task>_success`)."""
        return {name: float(np.mean(t["successes"])) for name, t in self.tasks.items()}

    @property
    def success(self) -> float:
        """The mean of the tasks' success rates (OGBench's `evaluation/overall_success`)."""
        return float(np.mean(list(self.task_success.values())))

    def record(self) -> dict[str, Any]:
        """Everything, as JSON can hold it: the summaries first, then each task's episodes."""
        return {"dataset": self.dataset, "seed": self.seed, "episodes_per_task": self.episodes,
                "success": self.success, "task_success": self.task_success, "tasks": self.tasks,
                "seconds": self.seconds}


def _action(policy: Policy, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
    action = np.asarray(policy(observation, goal), dtype=np.float64)
    if action.shape != (2,) or not np.isfinite(action).all():
        raise ValueError(f"the policy must return a finite action of shape (2,), got {action!r}")
    return np.clip(action, -1, 1)  # as OGBench's evaluate does for continuous actions


def evaluate(name: str, policy: Policy, *, seed: int, episodes: int = DEFAULT_EPISODES,
             tasks: Sequence[int] | None = None, env: Any = None,
             on_episode: Callable[[int, int, bool], None] | None = None) -> Evaluation:
    """Score `policy` on dataset `name`'s maze by OGBench's protocol (module docstring): `episodes` per task, on
    `tasks` (task ids 1-5; default all five). `env`: one made by `make_env(name)` to reuse; `on_episode(task_id,
    episode, success)` is called after each episode (a progress bar)."""
    if episodes < 1:
        raise ConfigError(f"the evaluation needs at least 1 episode per task, got {episodes}")
    env = make_env(name) if env is None else env
    infos = env.unwrapped.task_infos
    task_ids = list(range(1, len(infos) + 1)) if tasks is None else list(tasks)
    for k in task_ids:
        if not 1 <= k <= len(infos):
            raise ConfigError(f"task ids of {name} are 1 to {len(infos)}, got {k}")
    reset_hook = getattr(policy, "reset", None)
    result = Evaluation(dataset=name, seed=seed, episodes=episodes)
    start = time.perf_counter()
    for k in task_ids:
        info_k = infos[k - 1]
        successes, lengths = [], []
        with global_numpy_seed((seed, k)):
            env.action_space.seed(int(np.random.randint(2**31)))  # the reset's few random settling steps
            for e in range(episodes):
                # the env's own generator (initial velocity noise) seeded once per task, from the seeded stream
                seed_env = int(np.random.randint(2**31)) if e == 0 else None
                observation, info = env.reset(seed=seed_env, options=dict(task_id=k))
                goal = np.asarray(info["goal"])
                if reset_hook is not None:
                    reset_hook(observation, goal)
                done, steps = False, 0
                while not done:
                    observation, _, terminated, truncated, info = env.step(_action(policy, observation, goal))
                    done, steps = terminated or truncated, steps + 1
                successes.append(bool(info["success"]))
                lengths.append(steps)
                if on_episode is not None:
                    on_episode(k, e, successes[-1])
        result.tasks[info_k["task_name"]] = {
            "task_id": k, "init_ij": list(info_k["init_ij"]), "goal_ij": list(info_k["goal_ij"]),
            "success": float(np.mean(successes)), "successes": successes, "steps": lengths}
    result.seconds = time.perf_counter() - start
    return result
