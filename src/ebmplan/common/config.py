"""Config parts that every command composes: run options, network, optimiser, contrastive recipe, inference.

A command's config is a dataclass that inherits the parts it uses (`class TrainConfig(RunOptions, Network,
...)`), so tyro still sees flat flags (`--width`, `--lr`) and config.json still holds one flat dict. A command
that wants another default re-declares the field (its docstring is inherited when it gives none). Each part
checks its own fields in `check()`; `Config.validate()` runs every part's check, parents first, then the
command's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..energy.losses import Loss, loss_options, make_loss
from ..energy.models import ACTIVATIONS
from .errors import ConfigError, choose
from .monitor import require_tensorboard
from .runs import resolve_device


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def split_names(values: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A tuple-of-names option as given (`--sources uniform replay`), in the comma form (`--sources
    uniform,replay`), or as an older config.json saved it (one comma string): the names, in order."""
    values = [values] if isinstance(values, str) else values
    return tuple(name.strip() for v in values for name in str(v).split(",") if name.strip())


class Config:
    """What every command config has: `validate()` and the value checks its parts share."""

    def validate(self) -> None:
        """Check every value before any work starts; raise one ConfigError naming the first bad one."""
        for cls in reversed(type(self).__mro__):
            check = vars(cls).get("check")
            if check is not None:
                check(self)

    def require(self, *, at_least_one: tuple[str, ...] = (), positive: tuple[str, ...] = (),
                non_negative: tuple[str, ...] = ()) -> None:
        """Raise a ConfigError for the first named field that breaks its rule (None means "default")."""
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in positive:
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{flag(name)} must be a positive number, got {value}")
        for name in non_negative:
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"{flag(name)} must be >= 0, got {value}")

    @classmethod
    def from_saved(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """Settings from a saved config.json, as this ebmplan names them (a command overrides this to read
        the settings of older versions)."""
        return settings


@dataclass
class RunOptions(Config):
    """Where a run is written, how it is seeded, and on what it runs."""

    out: str | None = None
    """run folder (default: runs/<command>-<time>)"""
    seed: int = 0
    """seed of everything random in the run (data, initialisation, negatives, inference)"""
    device: str = "cpu"
    """auto, cpu or cuda"""
    overwrite: bool = False
    """replace an existing run folder"""
    resume: str | None = None
    """continue the run in this folder from where it stopped (its saved config is used)"""
    tensorboard: bool = False
    """also write the scalars of metrics.csv to RUN/tensorboard/ for TensorBoard (needs the tensorboard extra)"""

    def check(self) -> None:
        resolve_device(self.device)
        require_tensorboard(self.tensorboard)


@dataclass
class Network(Config):
    """The MLP every model of a command is built from."""

    width: int = 128
    """hidden units per layer"""
    depth: int = 3
    """hidden layers"""
    activation: str = "silu"
    """silu, relu, tanh, elu, gelu, softplus or leaky_relu"""

    def check(self) -> None:
        self.require(at_least_one=("width", "depth"))
        choose("activation", self.activation, ACTIVATIONS)


@dataclass
class Optimiser(Config):
    """Adam on minibatches for a number of steps."""

    steps: int = 2000
    """training steps"""
    batch_size: int = 256
    """examples per step"""
    lr: float = 1e-3
    """Adam learning rate"""
    grad_clip: float = 10.0
    """clip the global gradient norm to this (0 = off)"""

    def check(self) -> None:
        self.require(at_least_one=("steps", "batch_size"), positive=("lr",), non_negative=("grad_clip",))


@dataclass
class Contrastive(Config):
    """The contrastive recipe: a loss with its options, and a weighted mixture of negatives."""

    loss: str = "log"
    """margin, hinge, log, square-square, square-exp, infonce or cd"""
    margin: float = 1.0
    """margin of the margin, hinge and square-square losses; also the hard-negative threshold"""
    temperature: float = 1.0
    """temperature of the infonce loss"""
    l2: float = 0.1
    """energy L2 weight of the cd loss"""
    negatives: str = "uniform:0.5,perturb:0.25,hard:0.25"
    """weighted mixture of negative kinds, e.g. 'uniform:0.5,hard:0.5' (the kinds depend on the command)"""
    n_negatives: int = 8
    """negatives per positive"""
    perturb_sigma: float = 0.1
    """noise std of perturb negatives"""

    def check(self) -> None:
        loss_options(self.loss)  # checks the name
        self.require(at_least_one=("n_negatives",), positive=("temperature", "perturb_sigma"),
                     non_negative=("margin", "l2"))

    def make_loss(self) -> Loss:
        """The configured loss with exactly its own options bound (`energy/losses.py`)."""
        return make_loss(self.loss, **{name: getattr(self, name) for name in loss_options(self.loss)})


@dataclass
class Inference(Config):
    """Prediction by gradient descent on the free variable (`energy/inference.py`)."""

    infer_steps: int = 300
    """inference: gradient-descent step cap"""
    infer_step_size: float = 0.02
    """inference: initial step size"""
    infer_max_move: float = 0.05
    """inference: longest move per step"""

    def check(self) -> None:
        self.require(at_least_one=("infer_steps",), positive=("infer_step_size", "infer_max_move"))
