"""The one exception type for bad user input: the CLI turns it into one sentence and exit code 2."""


class ConfigError(ValueError):
    """A wrong name, value or file given by the user. The message is one sentence saying what is accepted."""


def choose(kind: str, name: str, choices) -> str:
    """Return `name` if it is one of `choices`, else raise a ConfigError listing them."""
    if name not in choices:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
    return name
