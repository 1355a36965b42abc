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


def _video_config():
    from .video import VideoConfig

    return VideoConfig()


def _video(cfg):
    from .runs import read_json
    from .video import run_video, summary

    path = run_video(cfg)
    print(f"run folder: {path}\n{summary(read_json(path / 'metrics.json'))}")
    return path


def _train_config(**defaults):
    def make():
        from .train import TrainConfig

        return TrainConfig(**defaults)

    return make


def _maze_train(cfg):
    from .plan.train_agent import train_agent

    path = train_agent(cfg)
    _print_metrics(path)
    return path


def _maze_eval(cfg):
    from pathlib import Path

    from .plan.train_agent import evaluate_run

    result = evaluate_run(cfg)
    print((Path(cfg.run) / "eval.md").read_text())
    return result


def _maze_config(name: str):
    def make():
        from .plan import train_agent

        return train_agent.MazeTrainConfig() if name == "train" else train_agent.MazeEvalConfig(run="")

    return make


def _plan_eval(cfg):
    from .plan.evaluate import evaluate_plans

    path = evaluate_plans(cfg)
    print(f"run folder: {path}\n{(path / 'results.md').read_text()}")
    return path


def _compare_config():
    from .compare import CompareConfig

    return CompareConfig()


def _compare(cfg):
    from .compare import compare

    path = compare(cfg)
    print(f"compare folder: {path}")
    return path


def _lazy(module: str, name: str):
    """A name from an ebmplan module, imported only when its command runs (keeps `ebmplan --help` fast)."""
    import importlib

    return getattr(importlib.import_module(f".{module}", __package__), name)


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
    "maze train": Command(_maze_config("train"), _maze_train,
                          "train the goal-conditioned agent whose value is a distance, in a point maze"),
    "maze eval": Command(_maze_config("eval"), _maze_eval,
                         "measure a maze agent: policy success per difficulty and distance quality"),
    "plan eval": Command(lambda: _lazy("plan.evaluate", "PlanEvalConfig")(), _plan_eval,
                         "plan over candidate states from each source and node budget, against the policy"),
    "compare": Command(_compare_config, _compare,
                       "fit contrastive, pca, kmeans and sparse-ae energies on one data set; compare them"),
    "sweep": Command(lambda: _lazy("sweep", "SweepConfig")(), lambda cfg: _lazy("sweep", "run_sweep")(cfg),
                     "run a training command over a grid of settings and seeds (local processes or Ray)"),
    "capacity": Command(lambda: _lazy("capacity", "CapacityConfig")(),
                        lambda cfg: _lazy("capacity", "run_capacity")(cfg),
                        "the capacity study: spiral landscapes and metrics against network width"),
    "video": Command(_video_config, _video,
                     "next-frame prediction on bouncing balls: an energy model against an MSE regressor"),
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
