"""The errors the CLI reports as one sentence: bad user input (exit code 2) and divergence (exit code 1)."""

import math


class ConfigError(ValueError):
    """A wrong name, value or file given by the user. The message is one sentence saying what is accepted."""


class Divergence(RuntimeError):
    """Training produced a non-finite loss, energy, gradient or weight; the CLI exits 1 with the message."""


def check_finite(loss, what: str, step: int, remedy: str = "try a lower --lr") -> None:
    """Raise Divergence (exit code 1) naming `what` and the step when a training loss is not finite."""
    if not math.isfinite(loss.item() if hasattr(loss, "item") else loss):
        raise Divergence(f"training the {what} diverged at step {step} (loss not finite); {remedy}")


def choose(kind: str, name: str, choices) -> str:
    """Return `name` if it is one of `choices`, else raise a ConfigError listing them."""
    if name not in choices:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
    return name
