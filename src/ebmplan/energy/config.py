"""Config parts of the energy-model commands (spiral, train, compare, conditional, video): the network, the
contrastive recipe and inference. They compose with common/config.py's run options and optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.config import Config
from ..common.errors import choose
from .losses import Loss, loss_options, make_loss
from .models import ACTIVATIONS


@dataclass
class Network(Config):
    """The MLP every model of a command is built from."""

    width: int = 128
    """hidden units per layer"""
    depth: int = 3
    """hidden layers"""
    activation: str = "silu"
    """silu, relu, tanh, elu, gelu, softplus or leaky_relu"""

    def check(self) -> None:
        self.require(at_least_one=("width", "depth"))
        choose("activation", self.activation, ACTIVATIONS)


@dataclass
class Contrastive(Config):
    """The contrastive recipe: a loss with its options, and a weighted mixture of negatives."""

    loss: str = "log"
    """margin, hinge, log, square-square, square-exp, infonce or cd"""
    margin: float = 1.0
    """margin of the margin, hinge and square-square losses; also the hard-negative threshold"""
    temperature: float = 1.0
    """temperature of the infonce loss"""
    l2: float = 0.1
    """energy L2 weight of the cd loss"""
    negatives: str = "uniform:0.5,perturb:0.25,hard:0.25"
    """weighted mixture of negative kinds, e.g. 'uniform:0.5,hard:0.5': uniform, perturb, model or hard, and
    mismatched where there is a condition; of frames (video): uniform, perturb, mismatched, hard-mismatched
    (the lowest-energy of a pool of mismatched frames) or chains (persistent descent chains)"""
    n_negatives: int = 8
    """negatives per positive"""
    perturb_sigma: float = 0.1
    """noise std of perturb negatives"""

    def check(self) -> None:
        loss_options(self.loss)  # checks the name
        self.require(at_least_one=("n_negatives",), positive=("temperature", "perturb_sigma"),
                     non_negative=("margin", "l2"))

    def make_loss(self) -> Loss:
        """The configured loss with exactly its own options bound (`energy/losses.py`)."""
        return make_loss(self.loss, **{name: getattr(self, name) for name in loss_options(self.loss)})


@dataclass
class Inference(Config):
    """Prediction by gradient descent on the free variable (`energy/inference.py`)."""

    infer_steps: int = 300
    """inference: gradient-descent step cap"""
    infer_step_size: float = 0.02
    """inference: initial step size"""
    infer_max_move: float = 0.05
    """inference: longest move per step"""

    def check(self) -> None:
        self.require(at_least_one=("infer_steps",), positive=("infer_step_size", "infer_max_move"))
