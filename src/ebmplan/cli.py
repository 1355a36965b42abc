"""The `ebmplan` command: each subcommand parses one config dataclass and calls the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tyro

from .errors import ConfigError


@dataclass(frozen=True)
class Command:
    config: Callable[[], Any]  # builds the default config (a dataclass whose field docstrings are --help)
    run: Callable[[Any], Any]  # runs it
    summary: str


def _train(command: str) -> Callable[[Any], Any]:
    def run(cfg):
        from .train import train

        path = train(cfg, command=command)
        _print_metrics(path)
        return path

    return run


def _print_metrics(path) -> None:
    from .runs import read_json

    m = read_json(path / "metrics.json")
    shown = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float))
    print(f"run folder: {path}\n{shown}")


def _train_config(**defaults):
    def make():
        from .train import TrainConfig

        return TrainConfig(**defaults)

    return make


def _conditional_config():
    from .conditional import ConditionalConfig

    return ConditionalConfig()


def _conditional(cfg):
    from .conditional import run_conditional
    from .runs import read_json

    path = run_conditional(cfg)
    m = read_json(path / "metrics.json")
    print(f"run folder: {path}")
    for kind in ("conditional", "latent", "deterministic", "regressor"):
        r = m[kind]
        print(f"  {kind:<13} precision {r['precision']:.4f}  mode_coverage {r['mode_coverage']:.3f}  "
              f"modes_found {r['modes_found']:.2f}  answers/x {r['answers_per_x']:.1f}")
    return path


COMMANDS: dict[str, Command] = {
    "spiral": Command(_train_config(data="spiral"), _train("spiral"),
                      "train the energy model on the seed's spiral (the main job)"),
    "train": Command(_train_config(), _train("train"), "train an energy model on any point data set or file"),
    "conditional": Command(_conditional_config, _conditional,
                           "multi-valued regression on the spiral: conditional and latent EBMs against MSE"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items())
    return (f"usage: ebmplan COMMAND [options]   (ebmplan COMMAND --help lists the options)\n\n"
            f"Contrastive energy-based models and planning with generated subgoals.\n\ncommands:\n{rows}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Longest matching command name first, so "maze train" wins over "maze".
    for name in sorted(COMMANDS, key=lambda k: -len(k.split())):
        words = name.split()
        if argv[: len(words)] == words:
            break
    else:
        if not argv or argv[0] in ("-h", "--help"):
            print(usage())
            return 0
        print(f"ebmplan: error: unknown command {' '.join(argv[:1])!r}\n\n{usage()}", file=sys.stderr)
        return 2
    command = COMMANDS[name]
    default = command.config()
    try:
        cfg = tyro.cli(type(default), default=default, args=argv[len(words):], prog=f"ebmplan {name}",
                       description=command.summary)
        command.run(cfg)
    except ConfigError as err:
        print(f"ebmplan {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ebmplan {name}: interrupted; the last checkpoint in the run folder is kept", file=sys.stderr)
        return 130
    except RuntimeError as err:
        from .train import Divergence

        if isinstance(err, Divergence):
            print(f"ebmplan {name}: error: {err}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
