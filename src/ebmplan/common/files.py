"""The files of a run folder, written atomically and read safely.

Every writer goes through `atomic_path` (a temporary file beside the target, then one rename), so a run killed
at any moment leaves the previous version of each file intact. Readers turn any missing, corrupted or foreign
file into one ConfigError: JSON (`read_json`), checkpoints (`load_checkpoint`, `weights_only=True`, so a
crafted file cannot run code) and safetensors weights (`load_weights`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ConfigError

CHECKPOINT_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


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
        tmp.write_text(json.dumps(obj, indent=2, default=jsonable) + "\n")


def jsonable(obj: Any) -> Any:
    """`obj` as JSON can hold it (dataclasses, numpy scalars, paths), for `json.dumps(default=...)`."""
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


