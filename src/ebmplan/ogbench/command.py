"""`ebmplan ogbench data`: make an OGBench point-maze dataset by OGBench's recipe, or check and measure a file.

With a dataset name, the run folder gets `<name>.npz`, `<name>-val.npz` and `<name>.json` (data.generate), read
back through `data.load`; with the path of an `.npz`, that file (and its `-val` file when there is one) is only
checked and measured. Either way the folder holds config.json, system.json (with the ogbench and mujoco
versions) and metrics.json: each split's statistics (data.statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import tyro

from ..common.config import Config
from ..common.errors import ConfigError
from ..common.files import write_json
from ..common.monitor import progress
from ..common.runs import loader, prepare_run_dir, system_info
from . import data
from .evaluation import DATASETS, require_ogbench

KIND = "ogbench-data"


@dataclass
class OgbenchDataConfig(Config):
    """Make an OGBench point-maze dataset by OGBench's recipe, seeded, or check and measure an .npz."""

    dataset: Annotated[str, tyro.conf.arg(metavar="NAME|PATH", help_behavior_hint="(required)")] = ""
    """pointmaze-{medium,large,giant,teleport}-{navigate,stitch}-v0 (made here), or an .npz to check and measure"""
    out: str | None = None
    """run folder (None: runs/ogbench-data-<time>)"""
    seed: int = 0
    """seed of the global np.random the recipe draws from (and of the env)"""
    episodes: int | None = None
    """training episodes, a tenth more for validation (None: the recipe's: 1000, 500 giant navigate, 5000 stitch)"""
    overwrite: bool = False
    """replace an existing run folder"""

    def check(self) -> None:
        if not self.dataset:
            raise ConfigError(f"give --dataset: one of {', '.join(DATASETS)}, or the path of an .npz")
        if self.dataset not in DATASETS:
            if self.episodes is not None:
                raise ConfigError("--episodes applies only when making a dataset by name, not to a given file")
            data.resolve(self.dataset)  # the file exists (its contents are checked by data.load)
        elif self.episodes is not None and self.episodes < 10:
            raise ConfigError(f"--episodes must be at least 10 so that the validation split (a tenth) holds an "
                              f"episode, got {self.episodes}")


def run(cfg: OgbenchDataConfig) -> Path:
    """Write the run folder (module docstring) and print where it is and what the dataset holds."""
    cfg.validate()
    require_ogbench()
    given = cfg.dataset not in DATASETS
    splits = _given(cfg.dataset) if given else {}  # a malformed file is refused before a folder is made
    if cfg.out and not cfg.overwrite and Path(cfg.out).is_dir() and any(Path(cfg.out).iterdir()):
        raise ConfigError(f"run folder {cfg.out} already exists and is not empty; pass --overwrite to replace it")
    path = prepare_run_dir(cfg.out, "ogbench-data", overwrite=cfg.overwrite)
    write_json(path / "config.json", {"kind": KIND, "command": "ogbench data", "config": cfg})
    write_json(path / "system.json", {**system_info("cpu"), **data.versions()})
    metrics: dict[str, Any] = {"dataset": cfg.dataset}
    if given:
        metrics.update(made=False, name=splits["train"].name)
    else:
        recipe = data.RECIPES[cfg.dataset]
        n_train = recipe.episodes if cfg.episodes is None else cfg.episodes
        bar = progress(desc=cfg.dataset, total=n_train + n_train // 10)
        made = data.generate(cfg.dataset, seed=cfg.seed, out=path, episodes=cfg.episodes,
                             on_episode=lambda _: bar.update(1))
        bar.close()
        metrics.update(made=True, name=cfg.dataset, seed=cfg.seed, record=made.record.name)
        splits = {"train": data.load(made.train), "val": data.load(made.val)}
    for split, d in splits.items():
        metrics[split] = {"file": str(d.path), **data.statistics(d)}
    write_json(path / "metrics.json", metrics)
    print(f"run folder: {path}\n{summary(metrics)}")
    return path


def _given(path: str) -> dict[str, data.Dataset]:
    """The checked file at `path`, and its `-val` file when there is one."""
    splits = {"train": data.load(path)}
    val = splits["train"].path.with_name(splits["train"].path.name.removesuffix(".npz") + "-val.npz")
    if val.is_file():
        splits["val"] = data.load(val)
    return splits


def summary(metrics: dict[str, Any]) -> str:
    """One line per split: rows, transitions, episodes, coverage."""
    lines = []
    for split in ("train", "val"):
        if split in metrics:
            s = metrics[split]
            cover = ("unknown maze" if s["coverage"] is None else f"{s['coverage']:.1%} of {s['free_cells']} free "
                     f"cells, {s['cells_per_episode']:.1f} per episode")
            lines.append(f"{split}: {s['rows']} rows, {s['transitions']} transitions, {s['episodes']} episodes "
                         f"(length {s['episode_length_min']}-{s['episode_length_max']}), coverage {cover}")
    return "\n".join(lines)


@loader(KIND)
def load_run(path: Path) -> data.Dataset:
    """The training split a run folder of `ebmplan ogbench data` holds."""
    return data.load(path)
