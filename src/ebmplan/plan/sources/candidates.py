"""What every candidate source shares: the states it returns (`Candidates`), its settings (`SourceSettings`, a
config part of `plan eval`), its interface (`Source`), and the agent's exploration data it may learn from.
The sources themselves: registry.py (uniform, replay, sgm, route, and the registry), generators.py (cvae,
ebm), with the gap recursion that route and the generators share in gaps.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...common.config import Config
from ...common.errors import ConfigError, choose
from ...energy.negatives import NEGATIVES, parse_weights
from ..agent.run import AgentRun


@dataclass
class Candidates:
    """A source's states: `[n, 2]` shared by every episode, or `[B, n, 2]` per episode, in map coordinates."""

    states: np.ndarray
    seconds: float  # wall-clock to produce them
    queries: int = 0  # agent distance queries spent producing them (sgm, and the generators' `gaps`)

    @property
    def shared(self) -> bool:
        return self.states.ndim == 2

    @property
    def used(self) -> float:
        """Nodes per graph actually generated: a per-episode set stopped short of its cap pads with NaN rows,
        which the planner never connects (the mean over episodes; the whole set when shared)."""
        if self.shared:
            return float(len(self.states))
        return float(np.isfinite(self.states).all(-1).sum(-1).mean())

    def of(self, rows: np.ndarray | slice) -> Candidates:
        """The candidates of some episodes (a shared set serves them all as it is)."""
        return self if self.shared else Candidates(self.states[rows], self.seconds, self.queries)


@dataclass
class SourceSettings(Config):
    """The settings the candidate sources read (`plan eval` inherits them as its own options)."""

    max_dist: float = 5.0
    """edge cutoff: an edge exists where the agent's distance is below this (SORB's MaxDist); sgm and the
    gap recursion (cvae, ebm, route) measure against it too"""
    seed: int = 12345
    """seed of the sources' draws and of the generators' training"""
    sgm_tau: float = 2.0
    """sgm: two-way consistency threshold (steps)"""
    sgm_pool: int = 1500
    """sgm: replay states considered at most"""
    gen_steps: int = 3000
    """cvae/ebm: training steps on routes through the agent's replay data"""
    gen_batch: int = 256
    """cvae/ebm: training triples per step"""
    gen_width: int = 128
    """cvae/ebm: hidden units per layer"""
    gen_lr: float = 1e-3
    """cvae/ebm: Adam learning rate"""
    per_call: int = 4
    """cvae/ebm: samples per (start, goal) pair, of which the agent's distance picks the middle"""
    ebm_negatives: str = "uniform:0.25,mismatched:0.5,hard:0.25"
    """ebm: negatives (uniform, mismatched, hard, perturb; weighted)"""
    ebm_infer_steps: int = 60
    """ebm: gradient-descent steps per generated candidate"""
    ebm_off_data: float = 0.25
    """ebm: share of negatives drawn from cells no replay state visited"""
    budget: str = "cap"
    """cvae/ebm/route: `cap` stops where the agent's distance trusts every hop, so --nodes is a cap (the table
    reports the nodes used); `fill` spends every node (once no gap is left, the longest segments are split)"""
    far_at: float = 3.0
    """cvae/ebm: where the agent's distance stops judging, in multiples of the cutoff: a shorter gap's middle is
    the halfway replay state of the shortest observed route between its ends, a longer one's is generated (for
    ebm, where every sample's longer half is this far, the lowest energy picks among them)"""

    def check(self) -> None:
        self.require(at_least_one=("sgm_pool", "gen_steps", "gen_batch", "gen_width", "per_call", "ebm_infer_steps"),
                     positive=("max_dist", "sgm_tau", "gen_lr", "far_at"))
        parse_weights(self.ebm_negatives, NEGATIVES, "negative kind")
        if not 0 <= self.ebm_off_data < 1:
            raise ConfigError(f"--ebm-off-data must lie in [0, 1), got {self.ebm_off_data}")
        choose("--budget", self.budget, ("fill", "cap"))


class Source:
    """`fit` once per agent run, then `candidates(starts [B, 2], goals [B, 2], n)` per batch of episodes.

    What a source is, declared: `per_episode` (a node set, and graph, per episode; else one set shared by every
    episode) and `learns` (its fit trains a model, whose `state_dict` can be saved and loaded into a new source
    of the same settings with `load_state_dict`; else fitting reads the replay data, at once)."""

    name = ""
    per_episode = False
    learns = False

    def __init__(self, run: AgentRun, settings: SourceSettings):
        self.run, self.maze, self.settings, self.max_dist = run, run.maze, settings, settings.max_dist
        self.device = run.agent.high.device  # a learned source runs where the agent does
        self.rng = np.random.default_rng(settings.seed)
        self.fit_seconds = 0.0

    def fit(self) -> None:
        return None  # uniform reads nothing

    def reseed(self, seed: int) -> None:
        """Restart the source's draws, its own and torch's (which the generators draw from): a call after the
        same reseed gives the same candidates."""
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)

    def candidates(self, starts: np.ndarray, goals: np.ndarray, n: int) -> Candidates:
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What the fit learned, on the CPU (nothing for a source that learns nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Ready a new source from a saved fit instead of fitting it (one that learns nothing reads its data)."""
        self.fit()


def load_trajectories(run: AgentRun) -> dict[str, np.ndarray]:
    """The agent's exploration episodes (`trajectories.npz`, format in replay.py)."""
    path = run.path / "trajectories.npz"
    if not path.is_file():
        raise ConfigError(f"{run.path} has no trajectories.npz; train the agent with this ebmplan's "
                          f"`maze train`, which saves its exploration trajectories")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
