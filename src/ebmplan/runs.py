"""Run folders: config and system records, atomic checkpoints, safe loading, progress, logs and `load_run`.

A run folder holds `config.json`, `system.json`, `metrics.csv`, `metrics.json`, `model.safetensors`,
`checkpoint.pt` (everything needed to resume) and figures; with `--tensorboard`, `tensorboard/` holds the
scalars of `metrics.csv` again for TensorBoard (`ScalarLog`; metrics.csv stays the source of truth). Files are
written atomically (temporary file, then rename), so a run killed at any moment leaves the previous version of
each file intact. Progress bars (`progress`) show only at a terminal.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .errors import ConfigError

CHECKPOINT_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


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


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files (and writers may recreate them)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; is {Path(path).parent} a run folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid JSON ({err})") from None


def system_info(device: str) -> dict[str, Any]:
    """Versions, git commit and device: what is needed to say where a number came from."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    from . import __version__

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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write training state atomically with torch.save (plain tensors and containers only)."""
    with atomic_path(path) as tmp:
        torch.save({"version": CHECKPOINT_VERSION, **state}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load training state with `weights_only=True`, so a crafted file cannot run code.

    Any failure (missing, truncated, corrupted, crafted, or from another version) is one clear ConfigError.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types here: every one means "not a checkpoint we can load"
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ConfigError(f"checkpoint {path} cannot be loaded safely: it is corrupted, truncated or holds "
                          f"objects other than tensors ({reason})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise ConfigError(f"checkpoint {path} has format version {found!r}; this ebmplan reads version "
                          f"{CHECKPOINT_VERSION}")
    return state


def save_weights(path: Path, module: torch.nn.Module) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}, str(tmp))


def load_weights(path: Path, module: torch.nn.Module) -> None:
    """Load safetensors weights into `module`; a missing, corrupted or mismatched file is one ConfigError."""
    try:
        weights = load_file(str(path))
        module.load_state_dict(weights)
    except FileNotFoundError:
        raise ConfigError(f"weights file {path} does not exist") from None
    except (SafetensorError, RuntimeError, OSError) as err:
        reason = str(err).strip().splitlines()[0][:200]
        raise ConfigError(f"weights file {path} is corrupted or does not match the model ({reason})") from None


def truncate_log(path: Path, step: int) -> None:
    """On resume, drop log rows written after the checkpoint, so the log matches an uninterrupted run."""
    rows = path.read_text().splitlines()
    width = len(rows[0].split(","))  # a row cut short by a crash has fewer fields
    kept = [rows[0]] + [r for r in rows[1:] if len(r.split(",")) == width and int(r.split(",")[0]) <= step]
    path.write_text("\n".join(kept) + "\n")


def progress_enabled(stream: IO[str] | None = None) -> bool:
    """Whether progress bars show: only when `stream` (default: standard error) is a terminal and the `CI`
    environment variable is not set, so logs, pipes and CI output stay free of them."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "CI" not in os.environ


def progress(iterable: Any = None, *, desc: str, total: float | None = None, initial: int = 0,
             stream: IO[str] | None = None) -> tqdm:
    """A tqdm progress bar on `stream` (default: standard error), shown only where `progress_enabled` says.

    Wrap an iterable (`for step in progress(range(n), desc="train")`), or call `.update()` on it and `.close()`
    it (`total=None` for a loop bounded by time). It draws no random numbers, so it changes no result.
    """
    stream = sys.stderr if stream is None else stream
    return tqdm(iterable, desc=desc, total=total, initial=initial, file=stream,
                disable=not progress_enabled(stream), dynamic_ncols=True)


def require_tensorboard(wanted: bool) -> None:
    """With `--tensorboard`, check before any work that TensorBoard can be written; one ConfigError if not."""
    if not wanted:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package, which is not installed; install it with "
                          "pip install 'ebmplan[tensorboard]' (or pip install tensorboard), or leave the flag "
                          "off (metrics.csv is written either way)") from None


class ScalarLog:
    """The rows of a run's `metrics.csv` (the source of truth) and, with `tensorboard=True`, the same scalars in
    `RUN/tensorboard/` through `torch.utils.tensorboard.SummaryWriter`.

    The header is `step,<columns>`, or `model,step,<columns>` with `models=True` for a run that trains several
    models one after another (each row then names its model; its TensorBoard tags are `<model>/<column>`,
    otherwise `<column>`). A value given as a string is written as it is (the caller's formatting); an int
    as written; a float with 6 significant digits. TensorBoard gets exactly the number the row shows.

    `resume_step`: continuing a run whose checkpoint is at this step: rows after it are dropped (see
    `truncate_log`) and TensorBoard purges its events after that step. `keep_models`: continuing a run with
    several models: only these models' rows are kept (the others train again).
    """

    def __init__(self, run: Path, columns: list[str] | tuple[str, ...], *, tensorboard: bool = False,
                 models: bool = False, resume_step: int | None = None, keep_models: set[str] | None = None):
        self.path, self.columns, self.models = run / "metrics.csv", list(columns), models
        header = ",".join((["model"] if models else []) + ["step"] + self.columns)
        if (resume_step is None and keep_models is None) or not self.path.exists():
            self.path.write_text(header + "\n")
        elif models:
            rows = self.path.read_text().splitlines()
            width = len(rows[0].split(","))
            kept = [r for r in rows[1:] if len(r.split(",")) == width and r.split(",")[0] in (keep_models or ())]
            self.path.write_text("\n".join([rows[0], *kept]) + "\n")
        else:
            truncate_log(self.path, resume_step or 0)
        self.writer = None
        if tensorboard:
            require_tensorboard(True)
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1  # events after the checkpoint's step
            self.writer = SummaryWriter(str(run / "tensorboard"), purge_step=purge)

    def write(self, step: int, values: dict[str, float | int | str], *, model: str | None = None) -> None:
        """Append one row: the value of every column at `step` (of `model` with `models=True`)."""
        if list(values) != self.columns:
            raise ValueError(f"metrics.csv columns are {self.columns}, got {list(values)}")
        if self.models and (not model or "," in model):
            raise ValueError(f"each row needs a model name without commas, got {model!r}")
        cells = [v if isinstance(v, str) else str(v) if isinstance(v, int) else f"{v:.6g}" for v in values.values()]
        lead = [model] if self.models else []
        with self.path.open("a") as f:
            f.write(",".join([*lead, str(step), *cells]) + "\n")
        if self.writer is not None:
            for name, cell in zip(self.columns, cells, strict=True):
                self.writer.add_scalar(f"{model}/{name}" if self.models else name, float(cell), step)

    def close(self) -> None:
        """Flush TensorBoard's events (metrics.csv is written row by row)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


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
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def saved_config(path: str | Path, config_type: type, kind: str) -> Any:
    """The config (a `config_type`) a run folder of `kind` was made with; one ConfigError if it holds none."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"run folder {path} does not exist")
    saved = read_json(path / "config.json")
    found = saved.get("kind", "energy")
    if found != kind:
        raise ConfigError(f"{path} holds a run of kind {found!r}, not {kind!r}")
    unknown = set(saved["config"]) - {f.name for f in dataclasses.fields(config_type)}
    if unknown:
        raise ConfigError(f"{path}/config.json has settings this ebmplan does not know: {', '.join(sorted(unknown))}")
    return config_type(**saved["config"])


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
    return json.loads(json.dumps(value, default=_jsonable))


def run_folder(cfg: Any, kind: str, command: str) -> Path:
    """The folder of the run being resumed, or a new one (see `prepare_run_dir`) holding config.json."""
    if cfg.resume:
        return Path(cfg.resume)
    run = prepare_run_dir(cfg.out, command, overwrite=cfg.overwrite)
    write_json(run / "config.json", {"kind": kind, "command": command, "config": cfg})
    return run


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
                              f"({str(err).strip().splitlines()[0][:120]})") from None
        return self.records[name]

    def save(self, name: str, model: torch.nn.Module, record: dict) -> None:
        """Add `model`, just trained, with its training record, and write the checkpoint."""
        self.models[name] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.records[name] = record
        save_checkpoint(self.path, {"models": self.models, "records": self.records, "step": len(self.models)})


def load_run(path: str | Path):
    """Rebuild what a run trained, ready to use from Python (e.g. `load_run("runs/demo").energy`)."""
    path = Path(path)
    config = read_json(path / "config.json")
    kind = config.get("kind", "energy")
    if kind == "energy":
        from .train import load_energy_run

        return load_energy_run(path)
    if kind == "maze-agent":
        from .plan.train_agent import load_agent

        return load_agent(path)
    if kind == "conditional":
        from .conditional import load_conditional_run

        return load_conditional_run(path)
    if kind == "video":
        from .video import load_video_run

        return load_video_run(path)
    raise ConfigError(f"{path} holds a run of kind {kind!r}, which load_run does not know")
