"""The `ebmplan` command line: finds the command, parses its config (commands.py) and maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .commands import COMMANDS as RUN_COMMANDS
from .commands import Command, parse
from .common.errors import ConfigError, Divergence
from .common.version import version
from .experiments import capacity, curves, suite, sweep
from .plan.agent import policy
from .playground.command import PlaygroundConfig, serve


def _maze_eval(cfg: policy.MazeEvalConfig) -> dict:
    result = policy.maze_eval(cfg)
    print((Path(cfg.out or cfg.run) / "eval.md").read_text())
    return result


# Every command, in the order `ebmplan --help` lists them: those that make run folders (commands.py), the ones
# that drive them (sweep, capacity) and the ones that read run folders (maze eval, plot).
COMMANDS: dict[str, Command] = {
    **{name: RUN_COMMANDS[name] for name in ("spiral", "train", "compare", "conditional", "video")},
    "sweep": Command(sweep.SweepConfig, sweep.run_sweep,
                     "run a training command over a grid of settings and seeds (local processes or Ray)"),
    "capacity": Command(capacity.CapacityConfig, capacity.run_capacity,
                        "the capacity study: spiral landscapes and metrics against network width"),
    "suite": Command(suite.SuiteConfig, suite.run_suite,
                     "the default recipe on every 2D suite set and several seeds: one table and one figure"),
    "maze train": RUN_COMMANDS["maze train"],
    "maze eval": Command(lambda: policy.MazeEvalConfig(run=""), _maze_eval,
                         "measure a maze agent: policy success per difficulty and distance quality"),
    "plan eval": RUN_COMMANDS["plan eval"],
    **{name: RUN_COMMANDS[name] for name in ("ogbench data", "ogbench train", "ogbench eval")},
    "plot": Command(curves.PlotConfig, curves.plot_runs,
                    "draw the training curves (metrics.csv) of one or several run folders into one figure"),
    "playground": Command(PlaygroundConfig, serve,
                          "a local web page: paint data and watch the energy landscape; draw a maze, watch the plan"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items())
    return (f"usage: ebmplan COMMAND [options]   (ebmplan COMMAND --help lists the options)\n"
            f"       ebmplan --version\n\n"
            f"Contrastive energy-based models and planning with generated subgoals.\n\ncommands:\n{rows}\n")


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _main(sys.argv[1:] if argv is None else argv)
        finally:
            sys.stdout.flush()  # a reader that went away shows here, not as a traceback when Python exits
    except BrokenPipeError:  # e.g. `ebmplan plan eval --help | head`; Python's docs, "Note on SIGPIPE"
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's own flush is quiet
        return 1


def _main(argv: list[str]) -> int:
    # Longest matching command name first, so "maze train" wins over "maze".
    for name in sorted(COMMANDS, key=lambda k: -len(k.split())):
        words = name.split()
        if argv[: len(words)] == words:
            break
    else:
        if not argv or argv[0] in ("-h", "--help"):
            print(usage())
            return 0
        if argv[0] == "--version":
            print(f"ebmplan {version()}")
            return 0
        print(f"ebmplan: error: unknown command {' '.join(argv[:1])!r}; choose one of: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    command = COMMANDS[name]
    try:
        command.run(parse(name, command, argv[len(words):]))
    except ConfigError as err:
        print(f"ebmplan {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ebmplan {name}: interrupted; the last checkpoint in the run folder is kept", file=sys.stderr)
        return 130
    except Divergence as err:
        print(f"ebmplan {name}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
