"""Every `ebmplan` command, in the order `ebmplan --help` lists them: its name, its config type (a dataclass whose
field docstrings are its --help), the function that runs it and prints what it measured, and a one-line help.

Registering a command is one row of `COMMANDS`. `cli.py` parses a config with `parse` and maps errors to exit
codes; the studies that run other commands (sweep, capacity, suite) are handed this table. A row's run function
is a module-level function, so that a sweep can send it to worker processes and Ray tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tyro

from . import conditional, images, video
from .common.config import split_commas
from .common.monitor import report
from .experiments import capacity, compare, curves, suite, sweep
from .ogbench import command as ogbench_command
from .ogbench import learn as ogbench_learn
from .plan.agent import policy
from .plan.agent import run as agent_run
from .plan.agent import training as agent_training
from .plan.eval import run as plan_eval
from .playground.command import PlaygroundConfig, serve
from .points.train import TrainConfig, train


@dataclass(frozen=True)
class Command:
    config: type  # a dataclass: its fields are the options, their docstrings the --help
    run: Callable[[Any], Any]  # runs a config of it and prints what it measured
    summary: str
    markers: tuple[Any, ...] = ()  # tyro.conf markers for the whole command (e.g. required fields positional)
    aliases: dict[str, str] = field(default_factory=dict)  # another spelling of an option: {"--tau": "--sgm-tau"}


def run_spiral(cfg: TrainConfig) -> Path:
    return report(train(cfg, command="spiral"))


def run_train(cfg: TrainConfig) -> Path:
    return report(train(cfg, command="train"))


def run_compare(cfg: compare.CompareConfig) -> Path:
    path = compare.compare(cfg)
    print(f"compare folder: {path}")
    return path


def run_conditional(cfg: conditional.ConditionalConfig) -> Path:
    return report(conditional.run_conditional(cfg), conditional.summary)


def run_video(cfg: video.VideoConfig) -> Path:
    return report(video.run_video(cfg), video.summary)


def run_images(cfg: images.ImagesConfig) -> Path:
    return report(images.run_images(cfg), images.summary)


def run_image_baselines(cfg: images.BaselinesConfig) -> Path:
    return report(images.run_baselines(cfg), images.baselines_summary)


def run_maze_train(cfg: agent_run.MazeTrainConfig) -> Path:
    return report(agent_training.train_agent(cfg))


def run_maze_eval(cfg: policy.MazeEvalConfig) -> dict:
    result = policy.maze_eval(cfg)
    print((Path(cfg.out or cfg.run) / "eval.md").read_text())
    return result


def run_plan_eval(cfg: plan_eval.PlanEvalConfig) -> Path:
    path = plan_eval.plan_eval(cfg)
    print(f"run folder: {path}\n{(path / 'results.md').read_text()}")
    return path


def run_sweep(cfg: sweep.SweepConfig) -> sweep.SweepResult:
    return sweep.run_sweep(cfg, COMMANDS)


def run_capacity(cfg: capacity.CapacityConfig) -> sweep.SweepResult:
    return capacity.run_capacity(cfg, COMMANDS)


def run_suite(cfg: suite.SuiteConfig) -> sweep.SweepResult:
    return suite.run_suite(cfg, COMMANDS)


COMMANDS: dict[str, Command] = {
    "spiral": Command(TrainConfig, run_spiral, "train the energy model on the seed's spiral (the main job)"),
    "train": Command(TrainConfig, run_train, "train an energy model on any point data set or file"),
    "compare": Command(compare.CompareConfig, run_compare,
                       "fit contrastive, pca, kmeans and sparse-ae energies on one data set; compare them"),
    "conditional": Command(conditional.ConditionalConfig, run_conditional,
                           "multi-valued regression on the spiral: conditional and latent EBMs against MSE"),
    "video": Command(video.VideoConfig, run_video,
                     "next-frame prediction on bouncing balls: an energy model against an MSE regressor"),
    "images train": Command(images.ImagesConfig, run_images,
                            "train an image energy (digits, mnist5k or a .npy) against its own Langevin samples"),
    "images baselines": Command(images.BaselinesConfig, run_image_baselines,
                                "a VAE, a GAN, a Gaussian fit and copies of training images, scored like images train"),
    "sweep": Command(sweep.SweepConfig, run_sweep,
                     "run a training command over a grid of settings and seeds (local processes or Ray)"),
    "capacity": Command(capacity.CapacityConfig, run_capacity,
                        "the capacity study: spiral landscapes and metrics against network width"),
    "suite": Command(suite.SuiteConfig, run_suite,
                     "the default recipe on every 2D suite set and several seeds: one table and one figure"),
    "maze train": Command(agent_run.MazeTrainConfig, run_maze_train,
                          "train the goal-conditioned agent whose value is a distance, in a point maze"),
    "maze eval": Command(policy.MazeEvalConfig, run_maze_eval,
                         "measure a maze agent: policy success per difficulty and distance quality",
                         markers=(tyro.conf.PositionalRequiredArgs,)),
    "plan eval": Command(plan_eval.PlanEvalConfig, run_plan_eval,
                         "plan over candidate states from each source and node budget, against the policy",
                         aliases={"--tau": "--sgm-tau"}),
    "ogbench data": Command(ogbench_command.OgbenchDataConfig, ogbench_command.run,
                            "make an OGBench point-maze dataset by OGBench's recipe (seeded), or check an .npz"),
    "ogbench train": Command(ogbench_learn.OgbenchTrainConfig, ogbench_learn.run_train,
                             "train a contrastive distance and a policy offline on an OGBench point-maze dataset"),
    "ogbench eval": Command(ogbench_learn.OgbenchEvalConfig, ogbench_learn.run_eval,
                            "OGBench's evaluation of a trained run: the policy alone and the planner on top"),
    "plot": Command(curves.PlotConfig, curves.plot_runs,
                    "draw the training curves (metrics.csv) of one or several run folders into one figure"),
    "playground": Command(PlaygroundConfig, serve,
                          "a local web page: paint data and watch the energy landscape; draw a maze, watch the plan"),
}


def parse(name: str, args: list[str]) -> Any:
    """The config of command `name` from `args`, the words after its name, as `ebmplan NAME ARGS` reads them:
    `--help` prints the help and exits 0; a word tyro cannot read exits 2 with tyro's message."""
    command = COMMANDS[name]
    aliases = "; ".join(f"{alias} means {option}" for alias, option in command.aliases.items())
    return tyro.cli(command.config, args=split_commas(command.config, _spelled(args, command.aliases)),
                    prog=f"ebmplan {name}", description=command.summary + (f" ({aliases})" if aliases else ""),
                    config=command.markers)


def _spelled(args: list[str], aliases: dict[str, str]) -> list[str]:
    """`args` with each alias (`--tau 3`, `--tau=3`) spelled as the option it stands for."""
    out = []
    for arg in args:
        flag, sep, value = arg.partition("=")
        out.append(aliases[flag] + sep + value if flag in aliases else arg)
    return out

