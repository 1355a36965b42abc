"""The energy page's recipe and data, as the command line knows them: the recipe is a `TrainConfig` (the fields
the page sets, checked by the config's own `validate`), the data a bundled set by name or a `.npy` file of the
painted points read by the same loader as `ebmplan train --data`, and `command_line` is the `ebmplan train`
command that trains the same model.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from ..common.config import flag
from ..common.errors import ConfigError
from ..energy.losses import LOSSES
from ..points.toy2d import DATASETS, MIN_POINTS, load_data, read_points
from ..points.train_config import TrainConfig
from .folders import RunsFolder
from .limits import MAX_POINTS, RECIPE_BOUNDS

PAGE_FIELDS = ("width", "depth", "loss", "negatives", "margin", "lr", "steps")
DEFAULT = TrainConfig()


def recipe_config(recipe: Any, data: str) -> TrainConfig:
    """The page's recipe (`{field: value}` for PAGE_FIELDS) on `data` as a validated TrainConfig."""
    if not isinstance(recipe, dict):
        raise ConfigError("the recipe must be a set of named options")
    unknown = sorted(set(recipe) - set(PAGE_FIELDS))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r}; the page sets {', '.join(PAGE_FIELDS)}")
    values = {name: _value(name, value) for name, value in recipe.items()}
    cfg = TrainConfig(data=data, device="cpu", **values)
    cfg.validate()
    return cfg


def _value(name: str, value: Any) -> Any:
    kind = type(getattr(DEFAULT, name))
    if kind is str:
        if not isinstance(value, str) or len(value) > 200:
            raise ConfigError(f"{flag(name)} must be a short word, got {str(value)[:40]!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{flag(name)} must be a number, got {str(value)[:40]!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"{flag(name)} must be a whole number, got {value}")
    low, high = RECIPE_BOUNDS[name]
    if not low <= value <= high:
        raise ConfigError(f"{flag(name)} must lie between {low:g} and {high:g} on the page, got {value:g}")
    return kind(value)


def page_defaults() -> dict:
    """What the page starts from: `ebmplan train`'s own defaults for the fields it sets, and the choices."""
    return {"recipe": {name: getattr(DEFAULT, name) for name in PAGE_FIELDS}, "losses": list(LOSSES),
            "datasets": list(DATASETS)}


def command_line(cfg: TrainConfig) -> str:
    """The `ebmplan train` command that trains the same model: the data and every setting that is not the
    default."""
    words = ["ebmplan", "train", "--data", cfg.data]
    for name in PAGE_FIELDS:
        value = getattr(cfg, name)
        if value != getattr(DEFAULT, name):
            words += [flag(name), str(value)]
    if cfg.seed != DEFAULT.seed:
        words += ["--seed", str(cfg.seed)]
    return shlex.join(words)


def points_array(points: Any) -> np.ndarray:
    """Painted points (a list of [x, y]) as an [N, 2] float64 array, or one sentence saying what is wrong."""
    if not isinstance(points, list) or not points:
        raise ConfigError("the canvas is empty: paint some points or pick a data set first")
    if len(points) > MAX_POINTS:
        raise ConfigError(f"too many points: {len(points)}; the playground takes at most {MAX_POINTS}")
    if len(points) < MIN_POINTS:
        raise ConfigError(f"only {len(points)} points: paint at least {MIN_POINTS}, so that they can be split "
                          f"into training, validation and test points")
    try:
        arr = np.array(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("points must be pairs of numbers [x, y]") from None
    if arr.shape != (len(points), 2) or not np.isfinite(arr).all():
        raise ConfigError("points must be pairs of finite numbers [x, y]")
    return arr


def read_upload(body: bytes, filename: str, runs: RunsFolder) -> np.ndarray:
    """An uploaded `.npy` or `.csv` of N x 2 points, read by `ebmplan train --data`'s reader and errors (which
    name the file as the user called it)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise ConfigError(f"upload a .npy or .csv file of N x 2 points; {filename!r} is neither")
    path = runs.scratch_file(suffix)
    try:
        path.write_bytes(body)
        try:
            arr = read_points(path)
        except ConfigError as err:
            raise ConfigError(str(err).replace(str(path), filename)) from None
    finally:
        runs.remove_scratch(path)
    if arr.shape[1] != 2:
        raise ConfigError(f"data file {filename} holds {arr.shape[1]}-dimensional points; the playground's plane "
                          f"shows N x 2 points")
    if len(arr) > MAX_POINTS:
        raise ConfigError(f"too many points: {len(arr)} in {filename}; the playground takes at most {MAX_POINTS}")
    return arr


def dataset_points(name: str) -> np.ndarray:
    """The training points of a bundled set, as `ebmplan train --data NAME` splits them: [N, 2]."""
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return load_data(name, seed=DEFAULT.seed).train.numpy()
