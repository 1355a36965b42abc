"""The `ebmplan` command line: finds the command in the registry (commands.py), parses its config and maps errors
to exit codes."""

from __future__ import annotations

import os
import sys

from .commands import COMMANDS, parse
from .common.errors import ConfigError, Divergence
from .common.version import version


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
        command.run(parse(name, argv[len(words):]))
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
