"""The run lifecycle: a `Run` owns one run folder, from creation or resumption to its metrics.

A run folder holds `config.json` (the command's typed config, the run's kind and `CONFIG_VERSION`),
`system.json` (versions, commit, device), `metrics.csv` (see monitor.py), `metrics.json`, weights
(`*.safetensors`), `checkpoint.pt` (everything needed to resume) and figures, all written atomically
(files.py). Each recipe registers the function that rebuilds its runs (`@loader("kind")`), so `load_run` reads
any run folder while this module imports no recipe. A folder whose config version is not this ebmplan's is
refused, not translated: settings change meaning between versions, and a silently translated run would not be
the run that was made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from .errors import REMEDY, ConfigError, diverged
from .files import jsonable, load_checkpoint, read_json, save_checkpoint, save_weights, write_json
from .monitor import ScalarLog
from .version import __version__

CONFIG_VERSION = 1  # of config.json's settings; raise it when a setting is renamed or changes meaning or default


def prepare_run_dir(out: str | None, command: str, *, overwrite: bool = False) -> Path:
    """Create the run folder (default `runs/<command>-<time>`), refusing to silently reuse a full one."""
    path = Path(out) if out else Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output path {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise ConfigError(f"run folder {path} already exists and is not empty; pass --resume {path} to "
                              f"continue it or --overwrite to replace it")
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"output folder {path} cannot be written ({err.strerror})") from None
    return path


def system_info(device: str) -> dict[str, Any]:
    """Versions, git commit and device: what is needed to say where a number came from."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"ebmplan": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": device, "git_commit": commit,
            "argv": sys.argv, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for `cuda` (or `cuda:N`) without that GPU is an error, not a silent
    fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; choose one of: auto, cpu, cuda, cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name} was asked for but no CUDA GPU is available; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name} was asked for but this machine has {torch.cuda.device_count()} "
                              f"CUDA GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def config_record(kind: str, command: str, cfg: Any) -> dict[str, Any]:
    """What config.json holds: the run's kind, the command that made it, `CONFIG_VERSION` and the config."""
    return {"kind": kind, "command": command, "version": CONFIG_VERSION, "config": cfg}


def saved_record(path: str | Path) -> dict[str, Any]:
    """config.json of the run folder `path`; one ConfigError if the folder is missing or of another version."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"run folder {path} does not exist")
    saved = read_json(path / "config.json")
    found = saved.get("version")
    if found != CONFIG_VERSION:
        raise ConfigError(f"{path} was written with config version {found if found is not None else 'none'} and "
                          f"this ebmplan reads version {CONFIG_VERSION} only; make the run again")
    return saved


def saved_config(path: str | Path, config_type: type, kind: str) -> Any:
    """The config (a `config_type`) a run folder of `kind` was made with; one ConfigError if it holds none,
    another kind, or another config version (`saved_record`)."""
    path = Path(path)
    saved = saved_record(path)
    found = saved.get("kind")
    if found != kind:
        raise ConfigError(f"{path} holds a run of kind {found!r}, not {kind!r}")
    settings = saved["config"]
    fields = {f.name for f in dataclasses.fields(config_type)}
    unknown = set(settings) - fields
    if unknown:
        raise ConfigError(f"{path}/config.json has settings this ebmplan does not know: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(config_type)
    return config_type(**{k: _as_tuple(v, hints[k]) for k, v in settings.items()})


def _as_tuple(value: Any, hint: Any) -> Any:
    """JSON holds a tuple as a list: a list back as a tuple where the field is one (e.g. `tuple[float, float] |
    None`)."""
    kinds = {typing.get_origin(h) or h for h in (hint, *typing.get_args(hint))}
    return tuple(value) if isinstance(value, list) and tuple in kinds and list not in kinds else value


def resumed_config(cfg: Any, kind: str, *, strict: bool = False) -> Any:
    """`cfg` itself, or with `cfg.resume` the config that run folder (of `kind`) was made with.

    `strict`: an option given beside `--resume` (one that differs from its default) that differs from the saved
    run's setting is one ConfigError, instead of being ignored."""
    if not cfg.resume:
        return cfg
    saved = saved_config(cfg.resume, type(cfg), kind)
    if strict:
        default = type(cfg)()
        for f in dataclasses.fields(cfg):
            given, was = _plain(getattr(cfg, f.name)), _plain(getattr(saved, f.name))
            if f.name == "resume" or given == _plain(getattr(default, f.name)) or given == was:
                continue
            if f.name == "out" and given is not None and Path(given) == Path(cfg.resume):
                continue
            flag = "--" + f.name.replace("_", "-")
            raise ConfigError(f"--resume {cfg.resume} continues that run with the settings it was made with, "
                              f"but {flag} {given} contradicts its {f.name}={was}; leave {flag} out, or start a "
                              f"new run without --resume")
    return dataclasses.replace(saved, resume=cfg.resume)


def _plain(value: Any) -> Any:
    """`value` as JSON would hold it (tuples as lists), for comparing a given option with a saved one."""
    return json.loads(json.dumps(value, default=jsonable))


def run_folder(cfg: Any, kind: str, command: str, device: torch.device) -> Path:
    """The folder of the run being resumed (`cfg.resume`), or a new one (see `prepare_run_dir`) holding
    config.json; system.json (for `device`) is written either way. For a config with `out`, `overwrite` and
    `resume`: a `Run`'s, or a study's that writes a folder of runs (compare, capacity, plan eval)."""
    if cfg.resume:
        path = Path(cfg.resume)
    else:
        path = prepare_run_dir(cfg.out, command, overwrite=cfg.overwrite)
        write_json(path / "config.json", config_record(kind, command, cfg))
    write_json(path / "system.json", system_info(str(device)))
    return path


@dataclasses.dataclass
class Run:
    """One run folder being written, by a command whose config has `out`, `overwrite`, `resume`, `device` and
    `tensorboard` (config.RunOptions). `Run.start` makes it; the recipe's loop then uses its paths and helpers.

    `config`: the run's config (with `--resume`, the saved one); `resumed`: whether it continues a folder.
    """

    path: Path
    kind: str
    config: Any
    resumed: bool

    @classmethod
    def start(cls, cfg: Any, kind: str, command: str, *, strict: bool = False) -> Run:
        """The config resolved (`resumed_config`) and validated before anything is written; then the folder
        resumed, or made new with config.json; system.json written either way."""
        cfg = resumed_config(cfg, kind, strict=strict)
        cfg.validate()
        return cls(run_folder(cfg, kind, command, resolve_device(cfg.device)), kind, cfg, bool(cfg.resume))

    @property
    def device(self) -> torch.device:
        return resolve_device(self.config.device)

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The state of the last checkpoint of a resumed run; None for a new run or one that wrote none."""
        return load_checkpoint(self.checkpoint_path) if self.resumed and self.checkpoint_path.exists() else None

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.checkpoint_path, state)

    def save_weights(self, module: torch.nn.Module, name: str = "model") -> None:
        save_weights(self.path / f"{name}.safetensors", module)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.path / "metrics.json", metrics)

    def log(self, columns: list[str], **options: Any) -> ScalarLog:
        """The run's metrics.csv (see ScalarLog for `options`), with TensorBoard when the config asks."""
        return ScalarLog(self.path, columns, tensorboard=self.config.tensorboard, **options)

    def finished_models(self) -> FinishedModels:
        return FinishedModels(self.path, resume=self.resumed)

    def diverged(self, what: str, step: int, part: str = "loss", remedy: str = REMEDY) -> NoReturn:
        """Raise Divergence (exit code 1), saying whether a good checkpoint is kept."""
        diverged(what, step, part, checkpoint=self.checkpoint_path, remedy=remedy)


class FinishedModels:
    """The checkpoint of a run that trains several models one after another.

    As each model finishes, its weights (`models[name]`, a state dict) and training record (`records[name]`)
    are written atomically to `checkpoint.pt`, with `step` the number of models finished; a resumed run loads
    these instead of training them again. A resumed run with no checkpoint yet had finished none.
    """

    def __init__(self, run: Path, *, resume: bool = False):
        self.path = run / "checkpoint.pt"
        state = load_checkpoint(self.path) if resume and self.path.exists() else {"models": {}, "records": {}}
        if not isinstance(state.get("models"), dict) or not isinstance(state.get("records"), dict):
            raise ConfigError(f"checkpoint {self.path} holds no finished models; was it written by an older "
                              f"ebmplan?")
        self.models: dict[str, dict[str, torch.Tensor]] = state["models"]
        self.records: dict[str, dict] = state["records"]

    def __contains__(self, name: str) -> bool:
        return name in self.models

    def load(self, name: str, model: torch.nn.Module) -> dict:
        """Load the finished model `name` into `model` and return its training record."""
        try:
            model.load_state_dict(self.models[name])
        except RuntimeError as err:
            raise ConfigError(f"checkpoint {self.path} does not fit this run's {name} model "
                              f"({load_error(err)})") from None
        return self.records[name]

    def save(self, name: str, model: torch.nn.Module, record: dict) -> None:
        """Add `model`, just trained, with its training record, and write the checkpoint."""
        self.models[name] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.records[name] = record
        save_checkpoint(self.path, {"models": self.models, "records": self.records, "step": len(self.models)})


def load_error(err: Exception) -> str:
    """The telling line of a failed `load_state_dict` (torch heads its list of mismatches with a line that
    names only the module), cut to one short clause."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    telling = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines[0]
    return telling[:160]


def restore(trainer: Any, state: dict, checkpoint: Path,
            clocks: tuple[str, ...] = ("train_seconds", "cpu_seconds")) -> tuple[float, ...]:
    """Load a resumed run's training `state` into `trainer` (its `load_state_dict`) and return the clocks saved
    with it; one ConfigError if the checkpoint does not fit this run."""
    try:
        trainer.load_state_dict(state)
        return tuple(float(state[c]) for c in clocks)
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
        reason = f"no {err}" if isinstance(err, KeyError) else load_error(err)
        raise ConfigError(f"checkpoint {checkpoint} does not fit this run ({reason}); was it written by an older "
                          f"ebmplan or for another run?") from None


LOADERS: dict[str, Callable[[Path], Any]] = {}  # run kind -> the function that rebuilds such a run


def loader(kind: str) -> Callable[[Callable[[Path], Any]], Callable[[Path], Any]]:
    """Register the decorated function as the one that rebuilds runs of `kind` for `load_run`."""
    def register(load: Callable[[Path], Any]) -> Callable[[Path], Any]:
        LOADERS[kind] = load
        return load
    return register


def load_run(path: str | Path) -> Any:
    """Rebuild what a run trained, ready to use from Python (e.g. `load_run("runs/demo").energy`)."""
    path = Path(path)
    kind = saved_record(path)["kind"]
    if kind not in LOADERS:
        raise ConfigError(f"{path} holds a run of kind {kind!r}, which load_run does not know; it reads "
                          f"{', '.join(sorted(LOADERS))}")
    return LOADERS[kind](path)
