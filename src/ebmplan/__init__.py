"""ebmplan: contrastive energy-based models and planning with generated subgoals.

    from ebmplan import TrainConfig, train, load_run
    run = load_run(train(TrainConfig(data="spiral", steps=2000)))
    samples = run.sample(1000)  # [1000, 2], gradient descent from uniform noise

Importing ebmplan registers the point-maze gymnasium envs, `ebmplan/PointMaze-<Map>[-Thin]-v0`, and every
recipe's run loader (so `load_run` reads any run folder).
"""

from . import conditional, video  # noqa: F401  (they register their run loaders)
from .common.errors import ConfigError
from .common.runs import load_run
from .common.version import __version__
from .energy.inference import Descent, descend
from .energy.losses import LOSSES, make_loss
from .energy.models import EnergyModel, MLPEnergy
from .energy.negatives import parse_negatives
from .plan import PointMazeEnv, load_maze  # importing .plan registers the gymnasium ids
from .plan.agent import run as _agent_run  # noqa: F401  (registers its run loader)
from .points.toy2d import DATASETS, load_data
from .points.train import TrainConfig, train

__all__ = ["DATASETS", "LOSSES", "ConfigError", "Descent", "EnergyModel", "MLPEnergy", "PointMazeEnv", "TrainConfig",
           "__version__", "descend", "load_data", "load_maze", "load_run", "make_loss", "parse_negatives", "train"]
