"""An OGBench agent run (kind "ogbench-agent"): the config `ebmplan ogbench train` takes, the networks it trains,
and `load_agent`, which rebuilds them from a run folder (also through `load_run`).

The run folder holds `config.json`, `system.json`, `metrics.csv` (training curves, with wall and CPU seconds),
`metrics.json` (the held-out distance checks and the training time), `model.safetensors` (critics, actor,
normaliser and calibration) and `checkpoint.pt` (everything `--resume` needs to continue exactly).
`ebmplan ogbench eval` adds `eval-<planner>.json` (commands.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..common.config import Optimiser, RunOptions
from ..common.errors import ConfigError, choose
from ..common.files import load_weights, read_json
from ..common.runs import loader, saved_config
from .critic import FORMS, Calibration, ContrastiveCritic, Distance, Normaliser
from .goals import GoalMix
from .policy import Actor, GoalPolicy

KIND = "ogbench-agent"


@dataclass
class OgbenchTrainConfig(RunOptions, Optimiser):
    """Train a contrastive critic (CRL), its distance and a DDPG+BC policy offline on an OGBench dataset."""

    dataset: str = ""
    """an OGBench dataset: a name (e.g. pointmaze-medium-navigate-v0) or the path of its .npz file"""
    steps: int = 20000
    batch_size: int = 256
    lr: float = 3e-4
    grad_clip: float = 0.0
    """clip each network's global gradient norm to this (0 = off, as in OGBench)"""
    width: int = 256
    """hidden units per layer of the critics and the actor (OGBench: 512)"""
    depth: int = 2
    """hidden layers (OGBench: 3)"""
    dim: int = 64
    """size of the contrastive representations phi and psi (OGBench's CRL: 512)"""
    energy: str = "dot"
    """the critics' energy: dot (CRL's -phi.psi/sqrt(dim)) or l2 (|phi - psi|)"""
    discount: float = 0.99
    """discount of the geometric future-state goals of the critics"""
    alpha: float = 0.1
    """weight of the behaviour-cloning term of the actor (DDPG+BC)"""
    actor_geometric: bool = False
    """draw the actor's goals geometrically like the critics' (default: uniform over the trajectory's rest, as
    OGBench's CRL)"""
    holdout: float = 0.1
    """share of trajectories held out for the calibration and checks when the dataset has no -val.npz file"""
    calibration_horizon: int = 300
    """the calibration is fitted on held-out pairs up to this many steps apart"""
    calibration_quantile: float = 0.1
    """the calibration maps each energy to this quantile of the steps between held-out pairs with that energy"""
    log_every: int = 500
    """updates between rows of metrics.csv"""
    checkpoint_every: int = 2000
    """updates between checkpoints"""

    def check(self) -> None:
        if not self.dataset:
            raise ConfigError("--dataset is required: an OGBench dataset name or the path of its .npz file")
        self.require(at_least_one=("width", "depth", "dim", "log_every", "checkpoint_every", "calibration_horizon"),
                     non_negative=("alpha",))
        if self.batch_size < 2:
            raise ConfigError(f"--batch-size must be at least 2 (the batch's other goals are the negatives), "
                              f"got {self.batch_size}")
        if not 0 < self.calibration_quantile <= 1:
            raise ConfigError(f"--calibration-quantile must be in (0, 1], got {self.calibration_quantile}")
        if not 0 < self.holdout < 1:
            raise ConfigError(f"--holdout must be in (0, 1), got {self.holdout}")
        choose("energy", self.energy, FORMS)
        self.critic_goals.check("--discount")

    @property
    def critic_goals(self) -> GoalMix:
        return GoalMix(p_current=0.0, p_future=1.0, geometric=True, discount=self.discount)

    @property
    def actor_goals(self) -> GoalMix:
        return GoalMix(p_current=0.0, p_future=1.0, geometric=self.actor_geometric, discount=self.discount)


class OgbenchAgent(nn.Module):
    """Every trained part: the normaliser, the Q critic E(s, a, g) (the actor's objective), the value critic
    E(s, g) and its calibration (the planner's distance), and the actor."""

    def __init__(self, cfg: OgbenchTrainConfig):
        super().__init__()
        self.norm = Normaliser()
        self.q = ContrastiveCritic(action=True, width=cfg.width, depth=cfg.depth, dim=cfg.dim, form=cfg.energy)
        self.v = ContrastiveCritic(action=False, width=cfg.width, depth=cfg.depth, dim=cfg.dim, form=cfg.energy)
        self.actor = Actor(width=cfg.width, depth=cfg.depth)
        self.calibration = Calibration()

    @property
    def distance(self) -> Distance:
        return Distance(self.v, self.norm, self.calibration)

    @property
    def policy(self) -> GoalPolicy:
        return GoalPolicy(self.actor, self.norm)


@dataclass
class OgbenchRun:
    """A trained OGBench agent, rebuilt from its run folder."""

    path: Path
    config: OgbenchTrainConfig
    agent: OgbenchAgent
    metrics: dict = field(default_factory=dict)


@loader(KIND)
def load_agent(path: str | Path) -> OgbenchRun:
    """Rebuild an `ogbench train` run: `load_agent(run).agent.distance(states, goals)`."""
    path = Path(path)
    cfg = saved_config(path, OgbenchTrainConfig, KIND)
    if not (path / "model.safetensors").exists():
        raise ConfigError(f"{path} holds no trained model yet (model.safetensors); finish it with --resume {path}")
    agent = OgbenchAgent(cfg)
    load_weights(path / "model.safetensors", agent)
    agent.eval()
    metrics_path = path / "metrics.json"
    return OgbenchRun(path, cfg, agent, read_json(metrics_path) if metrics_path.exists() else {})

