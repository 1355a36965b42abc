"""What a run shows while it runs: progress bars at a terminal, and the rows of `metrics.csv` (with
`--tensorboard`, the same scalars in `RUN/tensorboard/` for TensorBoard; metrics.csv stays the source of truth).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from .errors import ConfigError
from .files import read_json


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




def report(path: Path, summary: Callable[[dict], str] | None = None) -> Path:
    """Print the run folder and its final metrics: `summary(metrics.json)`, or by default every float in it."""
    m = read_json(path / "metrics.json")
    text = summary(m) if summary else ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float))
    print(f"run folder: {path}\n{text}")
    return path
