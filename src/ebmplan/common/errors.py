"""The errors the CLI reports as one sentence: bad user input (exit code 2) and divergence (exit code 1)."""

from pathlib import Path
from typing import NoReturn

REMEDY = "try a lower --lr"


class ConfigError(ValueError):
    """A wrong name, value or file given by the user. The message is one sentence saying what is accepted."""


class Divergence(RuntimeError):
    """Training produced a non-finite loss, energy, gradient or weight; the CLI exits 1 with the message."""


def diverged(what: str, step: int, part: str = "loss", *, checkpoint: Path | None = None,
             remedy: str = REMEDY) -> NoReturn:
    """Raise the one Divergence message: which model, at which step (counted from 1), which part went
    non-finite, whether the run's last good `checkpoint` (when it keeps one) is there, and what to try."""
    kept = ""
    if checkpoint is not None:
        kept = (f"the last good checkpoint is kept in {checkpoint}; " if checkpoint.exists()
                else "no checkpoint had been written yet; ")
    verb = "are" if part.split()[0] in ("weights", "energies") else "is"  # "the weights are", "the loss is"
    raise Divergence(f"training diverged at step {step}: the {part} of the {what} {verb} not finite; {kept}{remedy}")


def choose(kind: str, name: str, choices) -> str:
    """Return `name` if it is one of `choices`, else raise a ConfigError listing them."""
    if name not in choices:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
    return name
