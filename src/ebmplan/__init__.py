"""ebmplan: contrastive energy-based models and planning with generated subgoals.

    from ebmplan import TrainConfig, train, load_run
    run = load_run(train(TrainConfig(data="spiral", steps=2000)))
    samples = run.sample(1000)  # [1000, 2], gradient descent from uniform noise

Importing ebmplan registers the point-maze gymnasium envs, `ebmplan/PointMaze-<Map>[-Thin]-v0`:

    env = gymnasium.make("ebmplan/PointMaze-FourRooms-v0", render_mode="rgb_array")
"""

__version__ = "0.1.0"

from .data.toy2d import DATASETS, load_data
from .energy.inference import Descent, descend
from .energy.losses import LOSSES, get_loss
from .energy.models import EnergyModel, MLPEnergy
from .energy.negatives import parse_negatives
from .errors import ConfigError
from .plan import PointMazeEnv, load_maze  # importing .plan registers the gymnasium ids
from .runs import load_run
from .train import TrainConfig, train

__all__ = ["DATASETS", "LOSSES", "ConfigError", "Descent", "EnergyModel", "MLPEnergy", "PointMazeEnv", "TrainConfig",
           "descend", "get_loss", "load_data", "load_maze", "load_run", "parse_negatives", "train"]
