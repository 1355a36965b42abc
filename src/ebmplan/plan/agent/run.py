"""A maze-agent run (kind "maze-agent"): the config `ebmplan maze train` takes, the agent it builds, and
`load_agent`, which rebuilds a trained agent from its run folder (also through `load_run`).

The run folder holds `config.json`, `system.json`, `metrics.csv` (training curves), `metrics.json`,
`model.safetensors` (actor and critics), `checkpoint.pt` (everything `--resume` needs to continue exactly:
target networks, optimizers, step, RNG and environment states, counters and the replay buffer; written
atomically every `--checkpoint-every` updates), `distance.png` (learned vs true distance to one goal),
`rollouts.png`, and `trajectories.npz`, the exploration data (its format: replay.py). `ebmplan maze eval RUN`
adds `eval.json` and `eval.md` (policy.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...common.config import Optimiser, RunOptions
from ...common.errors import ConfigError
from ...common.files import load_weights, read_json
from ...common.resources import RUNTIME, check_memory, mlp_params, network_bytes
from ...common.runs import loader, resolve_device, saved_config
from ..world.maze import Maze, bundled_maps, load_maze, parse_maps
from .networks import DistanceAgent

KIND = "maze-agent"


@dataclass
class MazeTrainConfig(RunOptions, Optimiser):
    """Train SORB's goal-conditioned agent, whose value is a distance, in a point maze."""

    map: str = "FourRooms"
    """bundled map name (FourRooms, Spiral7x7, Maze11x11, ...) or a text file of '#' and '.' rows"""
    resize: int = 5
    """scale the map: each cell becomes resize x resize cells"""
    thin: bool = False
    """keep walls one cell thick when scaling (only free space widens)"""
    steps: int = 30000
    n_envs: int = 64
    """environments stepped together (one batch step of all of them every `updates_per_collect` updates)"""
    updates_per_collect: int = 16
    """gradient updates per batch step of all environments"""
    warmup: int = 16
    """batch steps of random actions collected before the first update"""
    batch_size: int = 64
    lr: float = 3e-4
    grad_clip: float = 0.0
    width: int = 128
    """hidden units per layer of actor and critics (SORB: 256; 128 is ~1.7x faster to train on a CPU)"""
    depth: int = 2
    """hidden layers of actor and critics"""
    ensemble: int = 3
    """critics in the ensemble (distances take the largest)"""
    bins: int = 20
    """distance bins; the last one means 'this many steps or more'"""
    tau: float = 0.05
    """soft target update rate"""
    target_every: int = 5
    """updates between soft target updates"""
    episode_steps: int = 20
    """training episode length (a timeout does not end the bootstrap)"""
    near_prob: float = 0.8
    """share of training goals drawn close to the start (SORB's curriculum); the rest are uniform"""
    near_dist: float = 4.0
    """'close' for the curriculum, in cells of the scaled map"""
    relabel: float = 0.0
    """share of sampled transitions whose goal is replaced by a state the episode reached later (hindsight)"""
    explore_noise: float = 0.1
    """std of Gaussian noise added to the actor's action while collecting (the env adds its own)"""
    goal: tuple[float, float] | None = None
    """goal (row, col) of the distance figure (None: the free cell nearest the map centre)"""
    log_every: int = 500
    """updates between rows of metrics.csv"""
    checkpoint_every: int = 2000
    """updates between checkpoints (the replay buffer is saved with them)"""

    def check(self) -> None:
        self.require(at_least_one=("resize", "n_envs", "updates_per_collect", "width", "depth", "ensemble",
                                   "episode_steps", "log_every", "target_every", "checkpoint_every"),
                     positive=("near_dist",), non_negative=("warmup", "explore_noise"))
        if self.bins < 2:
            raise ConfigError(f"--bins must be at least 2, got {self.bins}")
        for name in ("near_prob", "relabel", "tau"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        check_memory(self.memory_needed(), f"training a width-{self.width} agent on {self.map} x{self.resize}",
                     "use a smaller --width or --resize (or fewer --steps)", device=resolve_device(self.device))

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the actor and the critic ensemble with their
        targets, gradients and Adam's moments; the replay buffer (every transition of the run, 41 bytes each,
        copied again by checkpoints and trajectories.npz); per pair of free cells, the int16 shortest-path
        table and the float64 difficulties and masks that drawing the figure's start-goal pairs makes; and
        the largest passing peak: the activations of an update or of the distance figure over every cell.
        """
        W, L, E = self.width, self.depth, self.ensemble
        params = mlp_params(4, W, L, outputs=2) + E * mlp_params(6, W, L, outputs=self.bins)
        transitions = (self.warmup + math.ceil(self.steps / self.updates_per_collect)) * self.n_envs
        cells = self.free_cells()
        pairs = 24 * cells**2 + 8 * 1024 * cells  # (and scipy's float64 rows while it fills the table)
        return RUNTIME + 3 * 41 * transitions + pairs + network_bytes(
            params, W, L, train_rows=3 * self.batch_size * (E + 1), forward_rows=cells * (E + 1))

    def free_cells(self) -> int:
        """Free cells of the scaled map (with --thin, all its cells: an upper bound), counted on the unscaled
        map; 0 for a map file that cannot be read (loading the map says why)."""
        maps = bundled_maps()
        if self.map in maps:
            walls = maps[self.map]
        else:
            try:
                found = parse_maps(Path(self.map).read_text(), source=self.map)
            except (OSError, UnicodeDecodeError):
                return 0
            if len(found) != 1:
                return 0
            (walls,) = found.values()
        cells = walls.size if self.thin and self.resize > 1 else int((~walls).sum())
        return cells * self.resize**2


def build_agent(cfg: MazeTrainConfig, maze: Maze) -> DistanceAgent:
    return DistanceAgent(maze.high, width=cfg.width, depth=cfg.depth, ensemble=cfg.ensemble, bins=cfg.bins)


@dataclass
class AgentRun:
    """A trained maze agent, rebuilt from its run folder."""

    path: Path
    config: MazeTrainConfig
    agent: DistanceAgent
    maze: Maze
    metrics: dict = field(default_factory=dict)


@loader(KIND)
def load_agent(path: str | Path, device: str | torch.device = "cpu") -> AgentRun:
    """Rebuild a `maze train` run on `device`: `load_agent(run).agent.distance(states, goals)`."""
    path = Path(path)
    cfg = saved_config(path, MazeTrainConfig, KIND)
    maze = load_maze(cfg.map, resize=cfg.resize, thin=cfg.thin)
    agent = build_agent(cfg, maze)
    load_weights(path / "model.safetensors", agent)
    agent.to(device).eval()
    metrics_path = path / "metrics.json"
    return AgentRun(path, cfg, agent, maze, read_json(metrics_path) if metrics_path.exists() else {})
