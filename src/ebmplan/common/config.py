"""Config parts that every command composes: run options and optimiser (the energy models' parts, network,
contrastive recipe and inference, are in energy/config.py), and the checks they share.

A command's config is a dataclass that inherits the parts it uses (`class TrainConfig(RunOptions, Network,
...)`), so the command line has flat flags (`--width`, `--lr`) and config.json holds one flat dict. A command
that wants another default re-declares the field in one line (its docstring is inherited). Each part checks its
own fields in `check()`; `Config.validate()` runs every part's check, parents first, then the command's own.
Nothing here knows tyro: only the command line (commands.py) does.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

from .errors import ConfigError
from .monitor import require_tensorboard
from .runs import resolve_device


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def split_names(values: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A tuple-of-names option as given (`--sources uniform replay`), in the comma form (`--sources
    uniform,replay`), or as one comma string (`methods="pca,kmeans"` from Python): the names, in order."""
    values = [values] if isinstance(values, str) else values
    return tuple(name.strip() for v in values for name in str(v).split(",") if name.strip())


def split_commas(config: type, args: list[str]) -> list[str]:
    """Command-line words for `config`, with `--nodes 25,50` as `--nodes 25 50` for every option that takes
    several numbers."""
    hints = typing.get_type_hints(config)
    several = {flag(f.name) for f in dataclasses.fields(config)
               if typing.get_origin(hints[f.name]) in (tuple, list)
               and set(typing.get_args(hints[f.name])) - {Ellipsis} <= {int, float}}
    out: list[str] = []
    for previous, arg in zip([None, *args], args, strict=False):
        out += [a for a in arg.split(",") if a] if previous in several and "," in arg else [arg]
    return out


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



@dataclass
class RunOptions(Config):
    """Where a run is written, how it is seeded, and on what it runs."""

    out: str | None = None
    """run folder (None: runs/<command>-<time>)"""
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
