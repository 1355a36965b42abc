"""One setting of a command from text, as `sweep --grid width=8,16` and `--set steps=500` give it: read exactly as
the words after `--width` on that command's own command line (tyro reads them), or one sentence saying which
settings, or what kind of value, it takes."""

from __future__ import annotations

import dataclasses
import shlex
import typing
from contextlib import redirect_stderr
from io import StringIO
from typing import Any

import tyro

from ..common.config import split_commas
from ..common.errors import ConfigError

_BOOL_WORDS = {"true": "True", "yes": "True", "1": "True", "false": "False", "no": "False", "0": "False"}


def setting_value(command: str, default: Any, key: str, text: str, flag: str, *,
                  owned: tuple[str, ...] = ()) -> Any:
    """`text` read as the words after --KEY on the command line of `command`, whose config is `default` (a
    boolean takes true or false); or one ConfigError. `owned`: settings the caller sets itself, which `flag` may
    not set."""
    if key in owned:
        raise ConfigError(f"{flag} cannot set {key}: the sweep sets it for each run (use --seeds and --out)")
    names = [f.name for f in dataclasses.fields(default) if f.name not in owned]
    if key not in names:
        raise ConfigError(f"{flag} {key}: {type(default).__name__} has no setting {key!r}; choose one of: "
                          f"{', '.join(names)}")
    option = f"--{key.replace('_', '-')}"
    hint = typing.get_type_hints(type(default))[key]
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise ConfigError(f"{flag} {key}={text}: {err}") from None
    if type(None) in typing.get_args(hint) and len(words) == 1 and words[0].lower() in ("none", "null"):
        words = ["None"]
    if bool in (hint, *typing.get_args(hint)) and len(words) == 1:  # a flag on the command line
        words = [_BOOL_WORDS.get(words[0].lower(), words[0])]
    try:  # quiet: a value tyro cannot read is said below in one sentence (tyro 1.0 still prints a value error
        # that it meets while building the config, hence the redirect)
        with redirect_stderr(StringIO()):
            parsed = tyro.cli(type(default), default=default, args=split_commas(type(default), [option, *words]),
                              console_outputs=False, config=(tyro.conf.FlagConversionOff,))
    except SystemExit:
        raise ConfigError(f"{flag} {key}={text}: expected {_expected(hint)}, as after {option} on the command line "
                          f"of ebmplan {command}") from None
    return getattr(parsed, key)


def _expected(hint: Any) -> str:
    """What a value of type `hint` looks like, in words: 'a number of type int', 'one or more words', ..."""
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return f"{_expected(rest[0]) if len(rest) == 1 else 'a value'} or None"
    if hint is bool:
        return "true or false"
    if hint in (int, float):
        return f"a number of type {hint.__name__}"
    if hint is str:
        return "one word (quote it if it holds spaces)"
    if typing.get_origin(hint) in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        kind = _expected(inner[0]).removeprefix("a ").removeprefix("one ") if len(set(inner)) == 1 else "values"
        count = "one or more" if Ellipsis in args or typing.get_origin(hint) is list else str(len(args))
        return f"{count} {kind.replace('number', 'numbers').replace('word', 'words')}"
    return f"a value of type {hint}"
