"""The planning protocol of `plan eval` (docs/protocol.md §3): its settings (`PlanEvalConfig`) and the episodes
every planner is given.

For each agent run (one per training seed), the same episodes are drawn for every planner: `episodes`
(start, goal) pairs per difficulty d (true distance / longest shortest path, d ± 0.05), all run as one batch,
with one draw of environment noise shared by every planner and the plain policy. Success means within 1 cell
of the goal inside `max_steps`. The plain policy (no planner) is the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...common.backends import BACKENDS
from ...common.errors import ConfigError, choose
from ...common.resources import EPISODE_PAIR_BYTES, RUNTIME, SHARED_PAIR_BYTES, check_memory, episodes_per_chunk
from ...common.runs import resolve_device
from ..sources.candidates import SourceSettings
from ..sources.registry import REGISTRY, SOURCES
from ..world.env import PointMazeVec
from ..world.maze import Maze

ALL_DIFFICULTIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class PlanEvalConfig(SourceSettings):
    """Plan over candidate states from each source and node budget; compare with the plain policy."""

    agent: tuple[str, ...] = ()
    """run folder(s) of `ebmplan maze train`; several runs (one per training seed) repeat everything"""
    seeds: tuple[int, ...] = ()
    """instead of --agent: one agent per training seed, trained with `maze train`'s defaults on --map into
    --agents-dir (a complete agent there is reused, an interrupted one resumed)"""
    agents_dir: str = "runs/agents"
    """with --seeds: the folder of the agents, one run per map and seed (MAP-xRESIZE[-thin]-seedK)"""
    map: str | None = None
    """expected map name (checked against the agents' own map; default: whatever the agents used; with
    --seeds: the map to train on, FourRooms when not given)"""
    resize: int = 5
    """with --seeds: the map's scale"""
    thin: bool = False
    """with --seeds: keep the walls one cell thick when scaling (SGM's thin mazes)"""
    agent_steps: int = 30000
    """with --seeds: gradient updates of each agent's training"""
    sources: tuple[str, ...] = SOURCES
    """candidate sources: uniform, replay, sgm, cvae, ebm, route (several words, or one word with commas)"""
    nodes: tuple[int, ...] = (25, 50, 100, 250, 1000)
    """node budgets (candidates per graph; for cvae/ebm/route under --budget cap, the most they may use)"""
    difficulties: tuple[float, ...] = ALL_DIFFICULTIES
    """difficulty buckets d, each d ± 0.05"""
    episodes: int = 100
    """episodes per difficulty bucket (all buckets run as one batch)"""
    max_steps: int = 300
    """step limit of an episode"""
    wormhole_factor: float = 2.0
    """an edge is a wormhole when its true distance exceeds this times max_dist"""
    seed: int = 12345
    """seed of the episodes, the environment noise and the sources"""
    cleanup_steps: int = 15
    """sgm: an edge u -> w counts as failed when the agent, localised at node u, heads for waypoint w this many
    steps in a row without getting past it; the edge is dropped from the episode's graph and the route
    re-planned (0: no cleanup)"""
    device: str = "cpu"
    """auto, cpu or cuda: where the agents and the cvae/ebm sources run"""
    threads: int = 0
    """torch threads (0 = leave torch's default)"""
    workers: int = 1
    """tasks at once: with more than 1 (or --backend ray), each agent run's plain policy and each of its sources
    is a task of its own, run in a worker process (at most this many; with ray and no --address, the CPUs of
    the Ray it starts; 0 = one per CPU core)"""
    backend: str = "local"
    """local (worker processes on this machine) or ray (Ray tasks, on a cluster with --address); the same rows"""
    address: str | None = None
    """Ray cluster address, e.g. HOST:6379 (default: start a local Ray on this machine)"""
    ship_code: bool = True
    """ray with --address: send this ebmplan's code to the cluster's nodes (they still need its dependencies)"""
    out: str | None = None
    """run folder (default: runs/plan-<time>)"""
    overwrite: bool = False
    """replace an existing run folder"""
    resume: str | None = None
    """continue this run folder with its saved settings: the rows of results.csv already written (agent seed,
    source, node budget) are kept, the rest computed"""
    draw: bool = True
    """draw the figures"""
    max_memory: float = 2.0
    """GB for the graphs of the episodes planned together: per-episode node sets (cvae, ebm, route) are planned in
    chunks of episodes that fit (results do not depend on it)"""

    def __post_init__(self) -> None:
        # `--sources uniform,ebm` and `--sources uniform ebm` are one setting, also when compared with a saved run
        self.sources = tuple(s for item in self.sources for s in item.split(",") if s)
        self.agent, self.seeds = tuple(self.agent), tuple(self.seeds)
        self.nodes, self.difficulties = tuple(self.nodes), tuple(self.difficulties)

    def check(self) -> None:
        if not self.agent and not self.seeds:
            raise ConfigError("give the agent run folder(s) (--agent RUN [RUN ...]) or the seeds to train agents "
                              "with (--seeds 0 1 2)")
        if self.agent and self.seeds:
            raise ConfigError("give either --agent (trained agents) or --seeds (agents to train), not both")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds has repeats: {' '.join(map(str, self.seeds))}")
        for s in self.sources:
            choose("candidate source", s, SOURCES)
        if not self.sources:
            raise ConfigError("--sources is empty; choose from: " + ", ".join(SOURCES))
        for n in self.nodes:
            if n < 1:
                raise ConfigError(f"--nodes must be at least 1, got {n}")
        for d in self.difficulties:
            if not 0 < d <= 1:
                raise ConfigError(f"--difficulties must lie in (0, 1], got {d}")
        self.require(at_least_one=("episodes", "max_steps", "agent_steps", "resize"),
                     positive=("wormhole_factor", "max_memory"), non_negative=("cleanup_steps", "threads", "workers"))
        choose("backend", self.backend, BACKENDS)
        resolve_device(self.device)
        check_memory(self.memory_needed(), f"planning over {max(self.nodes, default=1)} nodes per graph",
                     "use fewer --nodes (or a smaller --max-memory)")

    def memory_needed(self) -> int:
        """Bytes of the largest graph this config builds, within a factor of about 2 (resources.py): per pair of
        nodes at the largest budget, the shared graph (and `sgm`'s pool) or the per-episode graphs of one chunk
        of episodes (at least one episode, at most `max_memory`), plus the closed loop's float64 [episodes,
        nodes] costs and the libraries' first-use memory."""
        n, B = max(self.nodes, default=1), self.episodes * len(self.difficulties)
        need = 0
        if any(not REGISTRY[s].per_episode for s in self.sources):
            pool = min(max(3 * n, 300), self.sgm_pool) if "sgm" in self.sources else 0
            need = SHARED_PAIR_BYTES * max(n, pool) ** 2 + 3 * 8 * B * n
        if any(REGISTRY[s].per_episode for s in self.sources):
            need = max(need, EPISODE_PAIR_BYTES * n * n * episodes_per_chunk(n, B, self.max_memory) + 3 * 8 * B * n)
        return RUNTIME + need


@dataclass
class Episodes:
    starts: np.ndarray  # [B, 2]
    goals: np.ndarray  # [B, 2]
    bucket: np.ndarray  # [B] index into difficulties


def sample_episodes(maze: Maze, cfg: PlanEvalConfig) -> Episodes:
    """`cfg.episodes` (start, goal) pairs per difficulty, bucket after bucket."""
    rng = np.random.default_rng(cfg.seed)
    parts = [maze.sample_pairs(rng, cfg.episodes, d) for d in cfg.difficulties]
    return Episodes(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                    np.repeat(np.arange(len(cfg.difficulties)), cfg.episodes))


def episode_noise(maze: Maze, B: int, seed: int, max_steps: int) -> np.ndarray:
    """[max_steps, B]: the environment noise of B episodes, one row per step, the same for every planner (and
    for the plain policy's rollout, which draws it step by step from seed + 1)."""
    return PointMazeVec(maze, B, seed=seed + 1).noise(max_steps)
