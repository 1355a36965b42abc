"""The commands that make run folders: each parses one config dataclass and calls the library.

`COMMANDS` maps a command's name to its config (whose field docstrings are its --help), the function that runs
it and prints what it measured, and a summary. `cli.py` adds the commands that drive others (sweep, capacity)
or read run folders (maze eval, plot) and maps errors to exit codes; `sweep.py` runs these over grids.
`parse` reads a command line exactly as `ebmplan NAME ARGS` does; `setting_value` reads one option's value
(`width=32`, as sweeps and `--set` give them) the same way.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import threading
import typing
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import tyro

from . import conditional, video
from .common.errors import ConfigError
from .common.files import read_json
from .experiments import compare
from .ogbench import command as ogbench_command
from .ogbench import learn as ogbench_learn
from .plan.agent import training as agent_training
from .plan.eval import run as plan_eval
from .points.train import TrainConfig, train


@dataclass(frozen=True)
class Command:
    config: Callable[[], Any]  # builds the default config (a dataclass whose field docstrings are --help)
    run: Callable[[Any], Any]  # runs it and prints what it measured
    summary: str


def report(path: Path) -> Path:
    """Print the run folder and its final metrics (the numbers of metrics.json)."""
    m = read_json(path / "metrics.json")
    print(f"run folder: {path}\n" + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float)))
    return path


def _train(command: str) -> Callable[[TrainConfig], Path]:
    return lambda cfg: report(train(cfg, command=command))


def _compare(cfg: compare.CompareConfig) -> Path:
    path = compare.compare(cfg)
    print(f"compare folder: {path}")
    return path


def _summarised(run: Callable[[Any], Path], summary: Callable[[dict], str]) -> Callable[[Any], Path]:
    """`run`, then print its run folder and `summary` of its metrics.json."""
    def run_and_print(cfg: Any) -> Path:
        path = run(cfg)
        print(f"run folder: {path}\n{summary(read_json(path / 'metrics.json'))}")
        return path
    return run_and_print


def _plan_eval(cfg: plan_eval.PlanEvalConfig) -> Path:
    path = plan_eval.plan_eval(cfg)
    print(f"run folder: {path}\n{(path / 'results.md').read_text()}")
    return path


COMMANDS: dict[str, Command] = {
    "spiral": Command(lambda: TrainConfig(data="spiral"), _train("spiral"),
                      "train the energy model on the seed's spiral (the main job)"),
    "train": Command(TrainConfig, _train("train"), "train an energy model on any point data set or file"),
    "compare": Command(compare.CompareConfig, _compare,
                       "fit contrastive, pca, kmeans and sparse-ae energies on one data set; compare them"),
    "conditional": Command(conditional.ConditionalConfig, _summarised(conditional.run_conditional, conditional.summary),
                           "multi-valued regression on the spiral: conditional and latent EBMs against MSE"),
    "video": Command(video.VideoConfig, _summarised(video.run_video, video.summary),
                     "next-frame prediction on bouncing balls: an energy model against an MSE regressor"),
    "maze train": Command(agent_training.MazeTrainConfig, lambda cfg: report(agent_training.train_agent(cfg)),
                          "train the goal-conditioned agent whose value is a distance, in a point maze"),
    "plan eval": Command(plan_eval.PlanEvalConfig, _plan_eval,
                         "plan over candidate states from each source and node budget, against the policy"),
    "ogbench data": Command(ogbench_command.OgbenchDataConfig, ogbench_command.run,
                            "make an OGBench point-maze dataset by OGBench's recipe (seeded), or check an .npz"),
    "ogbench train": Command(ogbench_learn.OgbenchTrainConfig, ogbench_learn.run_train,
                             "train a contrastive distance and a policy offline on an OGBench point-maze dataset"),
    "ogbench eval": Command(ogbench_learn.OgbenchEvalConfig, ogbench_learn.run_eval,
                            "OGBench's evaluation of a trained run: the policy alone and the planner on top"),
}


# tyro ends each option's help with a hint such as "(default: None)". A field whose docstring already states its
# default ("run folder (default: runs/<command>-<time>)") or that it is repeatable gets no second one, and an
# empty tuple shows "(default: empty)", not "(default: )"; a docstring's line breaks are spaces (tyro would keep
# them inside its own wrapping). A struct rule that wraps tyro's own rules.
_STATES_OWN_HINT = re.compile(r"\bdefault:|\brepeatable\W*$", re.IGNORECASE)
_HELP = tyro.constructors.ConstructorRegistry()
_inside = threading.local()


@_HELP.struct_rule
def _help_hints(info: tyro.constructors.StructTypeInfo) -> tyro.constructors.StructConstructorSpec | None:
    if getattr(_inside, "busy", False) or not dataclasses.is_dataclass(info.type):
        return None
    _inside.busy = True
    try:
        spec = tyro.constructors.ConstructorRegistry.get_struct_spec(info)  # tyro's own rule for this type
    finally:
        _inside.busy = False
    if not isinstance(spec, tyro.constructors.StructConstructorSpec):
        return spec
    fields = []
    for f in spec.fields:
        text = f.helptext() if callable(f.helptext) else f.helptext
        text = re.sub(r"(?<!\n)\n(?!\n)", " ", text) if text else text  # a blank line stays a paragraph
        hint = None
        if f.default is tyro.MISSING or f.default is tyro.MISSING_NONPROP:
            pass  # required: keep tyro's hint
        elif text and _STATES_OWN_HINT.search(text):
            hint = ""
        elif isinstance(f.default, tuple) and not f.default:
            hint = "(default: empty)"
        f = dataclasses.replace(f, helptext=text)
        if hint is not None:
            f = dataclasses.replace(f, type=typing.Annotated[f.type, tyro.conf.arg(help_behavior_hint=hint)])
        fields.append(f)
    return dataclasses.replace(spec, fields=tuple(fields))


def parse(name: str, command: Command, args: list[str], *, default: Any = None,
          flags_take_values: bool = False) -> Any:
    """The config of `command`, named `name`, from `args`, the words after its name, exactly as `ebmplan NAME
    ARGS` reads them (`--help` prints the help and exits; a bad word exits with code 2 and tyro's framed
    message). `flags_take_values`: a boolean option takes a word (`--thin True`) instead of being a flag."""
    default = command.config() if default is None else default
    markers = (tyro.conf.FlagConversionOff,) if flags_take_values else None
    with _HELP:
        return tyro.cli(type(default), default=default, args=_split_commas(type(default), args),
                        prog=f"ebmplan {name}", description=command.summary, config=markers)


def _split_commas(config: type, args: list[str]) -> list[str]:
    """`--nodes 25,50` means `--nodes 25 50` for every option that takes several numbers."""
    hints = typing.get_type_hints(config)
    several = {f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(config)
               if typing.get_origin(hints[f.name]) in (tuple, list)
               and set(typing.get_args(hints[f.name])) - {Ellipsis} <= {int, float}}
    out: list[str] = []
    for previous, arg in zip([None, *args], args, strict=False):
        out += [a for a in arg.split(",") if a] if previous in several and "," in arg else [arg]
    return out


def setting_value(command: str, default: Any, key: str, text: str, flag: str, *,
                  owned: tuple[str, ...] = ()) -> Any:
    """Read `text` as the words after --KEY on the command line of `command` (its own parser) and return the
    value, or say which options and values are accepted. `owned`: settings the caller sets itself, which `flag`
    may not set."""
    fields = [f.name for f in dataclasses.fields(default) if f.name not in owned]
    if key in owned:
        raise ConfigError(f"{flag} cannot set {key}: the sweep sets it for each run (use --seeds and --out)")
    if key not in fields:
        raise ConfigError(f"{flag} {key}: {type(default).__name__} has no setting {key!r}; choose one of: "
                          f"{', '.join(fields)}")
    hint = typing.get_type_hints(type(default))[key]
    optional = type(None) in typing.get_args(hint)
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise ConfigError(f"{flag} {key}={text}: {err}") from None
    if optional and len(words) == 1 and words[0].lower() in ("none", "null"):
        words = ["None"]
    if bool in (hint, *typing.get_args(hint)) and len(words) == 1:  # a flag on the command line
        words = [_BOOL_WORDS.get(words[0].lower(), words[0])]
    try:
        with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
            parsed = parse(command, COMMANDS[command], [f"--{key.replace('_', '-')}", *words], default=default,
                           flags_take_values=True)
    except SystemExit:
        raise ConfigError(f"{flag} {key}={text}: expected {_expected(hint)}, as after --{key.replace('_', '-')} "
                          f"on the command line of ebmplan {command}") from None
    return getattr(parsed, key)


_BOOL_WORDS = {"true": "True", "yes": "True", "1": "True", "false": "False", "no": "False", "0": "False"}


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
