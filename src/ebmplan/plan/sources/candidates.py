"""What every candidate source shares: the states it returns (`Candidates`), its settings (`SourceSettings`, a
config part of `plan eval`), its interface (`Source`), and the agent's exploration data it may learn from.
The sources themselves: subgoals.py (uniform, replay, sgm, and the registry) and generators.py (cvae, ebm,
route).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

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
    generators' `gaps` measure against it too"""
    seed: int = 12345
    """seed of the sources' draws and of the generators' training"""
    sgm_tau: float = 2.0
    """sgm: two-way consistency threshold (steps)"""
    sgm_pool: int = 1500
    """sgm: replay states considered at most"""
    gen_steps: int = 3000
    """cvae/ebm: training steps on the agent's trajectories"""
    gen_batch: int = 256
    """cvae/ebm: training triples per step"""
    gen_width: int = 128
    """cvae/ebm: hidden units per layer"""
    gen_lr: float = 1e-3
    """cvae/ebm: Adam learning rate"""
    per_call: int = 4
    """cvae/ebm: samples per (start, goal) pair at each level of the recursion"""
    ebm_negatives: str = "uniform:0.25,mismatched:0.5,hard:0.25"
    """ebm: negatives (uniform, mismatched, hard, perturb; weighted)"""
    ebm_infer_steps: int = 60
    """ebm: gradient-descent steps per generated candidate"""
    ebm_init: str = "mid"
    """ebm: where descent starts: `uniform` (noise over the map) or `mid` (half the samples of a pair from the
    straight midpoint of its start and goal, the first exactly there, the others spread by a quarter of their
    distance; the rest uniform) or `replay` (no descent: the learned energy scores `ebm_pool` replay states per
    pair, half near the straight midpoint and half anywhere, and the lowest-energy ones are the samples)"""
    ebm_pool: int = 64
    """ebm with --ebm-init replay: replay states the energy scores per (start, goal) pair"""
    gen_data: str = "graph"
    """cvae/ebm training triples: `graph` (routes through the stitched replay data, any length) or `episodes`
    (three states of one exploration episode)"""
    ebm_off_data: float = 0.25
    """ebm: share of negatives drawn from cells no replay state visited"""
    snap: bool = True
    """cvae/ebm: move every generated state to the nearest replay state (--no-snap: keep it where it was generated)"""
    split: str = "gaps"
    """cvae/ebm/route recursion: `gaps` splits the segments the agent cannot cross (longest first), `halves` splits
    every segment, breadth first"""
    budget: str = "cap"
    """cvae/ebm/route with --split gaps: `cap` stops where the agent's distance trusts every hop, so --nodes is a cap
    (the table reports the nodes used); `fill` spends every node (once no gap is left, the longest segments are
    split). --split halves always fills"""
    far_pick: str = "energy"
    """ebm with --split gaps: which of a pair's samples becomes its middle where every sample's longer half is
    at least 3x the cutoff by the agent's distance (beyond its judgment): `energy` the lowest learned energy,
    `distance` the shortest longer half (cvae, which has no energy, always uses the distance)"""
    near_split: str = "route"
    """cvae/ebm with --split gaps: the middle of a gap the agent's distance can judge (under --far-at times the
    cutoff): `energy` the generator's, like every other, or `route` the halfway replay state of the shortest
    observed route between the ends' cells (the agent's exploration data stitched into a graph)"""
    far_at: float = 3.0
    """where the agent's distance stops judging, in multiples of the cutoff: --far-pick energy takes over where
    every sample's longer half is at least this far, --near-split route acts on gaps shorter than this"""
    ebm_energy: str = "data"
    """ebm: the energy descended: `data` (the learned F((s, g), m)), `distance` (lambda * max(D(s, m), D(m, g))
    with D the agent's distance, RIS's subgoal objective) or `sum` (both: a product of experts)"""
    ebm_lambda: float = 0.1
    """ebm: weight of the agent's distance in `--ebm-energy distance` and `sum` (energy units per step)"""

    def check(self) -> None:
        self.require(at_least_one=("sgm_pool", "ebm_pool", "gen_steps", "gen_batch", "gen_width", "per_call",
                                   "ebm_infer_steps"),
                     positive=("max_dist", "sgm_tau", "gen_lr", "ebm_lambda", "far_at"))
        parse_weights(self.ebm_negatives, NEGATIVES, "negative kind")
        choose("--gen-data", self.gen_data, ("graph", "episodes"))
        if not 0 <= self.ebm_off_data < 1:
            raise ConfigError(f"--ebm-off-data must lie in [0, 1), got {self.ebm_off_data}")
        choose("--split", self.split, ("gaps", "halves"))
        choose("--budget", self.budget, ("fill", "cap"))
        choose("--ebm-energy", self.ebm_energy, ("data", "distance", "sum"))
        choose("--ebm-init", self.ebm_init, ("uniform", "mid", "replay"))
        choose("--far-pick", self.far_pick, ("energy", "distance"))
        choose("--near-split", self.near_split, ("energy", "route"))


class Source(ABC):
    """`fit` once per agent run, then `candidates(starts [B, 2], goals [B, 2], n)` per batch of episodes."""

    name = ""

    def __init__(self, run: AgentRun, settings: SourceSettings):
        self.run, self.maze, self.settings, self.max_dist = run, run.maze, settings, settings.max_dist
        self.device = run.agent.high.device  # a learned source runs where the agent does
        self.rng = np.random.default_rng(settings.seed)
        self.fit_seconds = 0.0

    def fit(self) -> None:
        return None  # sources that learn nothing (uniform, replay) need no fitting

    @abstractmethod
    def candidates(self, starts: np.ndarray, goals: np.ndarray, n: int) -> Candidates: ...


def load_trajectories(run: AgentRun) -> dict[str, np.ndarray]:
    """The agent's exploration episodes (`trajectories.npz`, format in replay.py)."""
    path = run.path / "trajectories.npz"
    if not path.is_file():
        raise ConfigError(f"{run.path} has no trajectories.npz; train the agent with this ebmplan's "
                          f"`maze train`, which saves its exploration trajectories")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
