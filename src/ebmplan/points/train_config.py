"""What `ebmplan train` is asked to do: the data, the network, the contrastive recipe (loss, negatives, early
stopping), inference, and the memory a run of it needs. The defaults are one recipe for any 2D point set
(docs/results/suite.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..common.config import Optimiser, RunOptions
from ..common.errors import ConfigError, choose
from ..common.resources import FLOAT, RUNTIME, chains_at_once, check_memory, mlp_params, network_bytes
from ..common.runs import resolve_device
from ..energy.architectural import METHODS
from ..energy.config import Contrastive, Inference, Network
from ..energy.inference import SCHEDULES
from ..energy.negatives import parse_negatives


@dataclass
class TrainConfig(RunOptions, Network, Optimiser, Contrastive, Inference):
    """Train a contrastive energy model on point data and write a run folder."""

    data: str = "spiral"
    """named data set (spiral, or the suite: 8gaussians, 25gaussians, 2spirals, swissroll, circles, rings, moons,
    pinwheel, checkerboard) or a .npy/.csv file of N x D points"""
    standardise: bool = True
    """train on standardised points (each column to mean 0 and std 1 over the training split); samples, NLL and
    figures are mapped back to the data's units. The step sizes and noise scales below are in standardised
    units when this is on"""
    lr: float = 3e-3
    steps: int = 6000
    min_steps: int = 2000
    """training steps before training may stop early (a validation NLL can stall for a while before the modes
    of a mixture split)"""
    patience: int = 5
    """stop when the validation NLL (checked every --log-every steps) has not improved by 0.01 nats for this
    many checks, and keep the best model seen; 0 = train all --steps and keep the last"""
    average: float = 0.99
    """decay per step of the moving average of the weights, the model that is validated and kept (it smooths
    the step-to-step noise of the learning rate); 0 = the weights themselves"""
    spectral_norm: bool = False
    """spectral normalisation on every layer (a smoother, Lipschitz-bounded landscape)"""
    negatives: str = "uniform:0.5,perturb:0.5"
    hard_size: int = 4096
    """capacity of the prioritized hard-negative buffer"""
    hard_alpha: float = 1.0
    """priority exponent of the hard-negative buffer (0 = uniform over the buffer)"""
    hard_refresh: float = 0.25
    """fraction of the hard-negative buffer re-scored with the current model every step"""
    model_steps: int = 10
    """gradient steps per model-sample negative"""
    model_step_size: float = 0.01
    """step size of model-sample negatives"""
    model_noise: float = 0.005
    """Langevin noise of model-sample negatives"""
    n_samples: int = 2000
    """samples drawn by inference at the end, from uniform noise over the padded box"""
    perturb_sigma: float = 0.13
    infer_step_size: float | None = None
    """inference: initial step size (None: 0.0035 for contrastive energies, whose slopes are steep; 0.1 for
    the architectural ones, whose energies are squared distances)"""
    infer_final_step_size: float | None = None
    """inference: final step size of the schedule (None: the initial one)"""
    infer_schedule: str = "constant"
    """inference: step-size schedule (constant, cosine, exponential)"""
    infer_max_move: float = 0.066
    infer_tol: float = 8e-3
    """inference: a sample has converged when it moves less than this (it then stays where it reached the
    valley, instead of sliding along it)"""
    checkpoint_every: int = 500
    """steps between checkpoints"""
    log_every: int = 100
    """steps between rows of metrics.csv, each with a validation check"""
    method: str = "contrastive"
    """contrastive, or an architectural energy fitted its own way, without negatives: pca (SVD), kmeans
    (Lloyd's algorithm, at most --steps iterations) or sparse-ae (Adam, --steps steps of --batch-size)"""
    n_components: int = 1
    """pca: principal components kept (in 2D, 1 makes a straight line of low energy)"""
    n_clusters: int = 64
    """kmeans: centroids"""
    code_dim: int = 64
    """sparse-ae: code units (its encoder and decoder have --depth layers of --width units)"""
    sparsity: float = 0.1
    """sparse-ae: weight of the L1 code penalty, in training and in the energy"""

    def check(self) -> None:
        # the hard buffer's options are checked even when the mixture has no hard part: a bad value is a typo
        self.require(at_least_one=("n_samples", "checkpoint_every", "log_every", "n_components", "n_clusters",
                                   "code_dim", "hard_size"),
                     positive=("infer_final_step_size", "hard_refresh"),
                     non_negative=("infer_tol", "model_steps", "sparsity", "patience", "min_steps", "hard_alpha"))
        if not 0 <= self.average < 1:
            raise ConfigError(f"--average must be in [0, 1), got {self.average}")
        choose("step-size schedule", self.infer_schedule, SCHEDULES)
        choose("method", self.method, METHODS)
        negatives = self.make_negatives((torch.zeros(2), torch.ones(2)))  # checks the spec and its options
        if "mismatched" in negatives.parts:
            raise ConfigError("mismatched negatives pair an input with another example's output, so they need a "
                              "conditional task (ebmplan conditional); unconditional training cannot use them")
        if self.method == "kmeans":
            what, hint = f"k-means with {self.n_clusters} clusters", "use a smaller --n-clusters"
        else:
            what, hint = f"training a width-{self.width} network", "use a smaller --width (or --batch-size)"
        check_memory(self.memory_needed(), what, hint, device=resolve_device(self.device))

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the network's parameters with their gradients and
        Adam's moments; the hard-negative buffer; and the largest of the passing peaks: the activations of a
        training batch of positives and negatives, of the sample chains (and model negatives' chains) in
        inference, of the 200 x 200 energy grid scored in one pass at evaluation, and evaluation's MMD, whose
        float64 kernel matrices over 4000 points take about 512 MB whatever the network. Points count as 2D (a
        data file is only read when training starts). Measured peaks (resident memory above the imports):
        586 MB for the defaults, estimated 613 MB; 727 MB at --width 1024, estimated 663 MB.
        """
        B, n, W, L = self.batch_size, self.n_negatives, self.width, self.depth
        grid = 200 * 200  # metrics.nll and the landscape figure score the grid in one pass
        mmd = 4 * 8 * 4000**2  # distances, kernel sum and two temporaries, float64, over 2000 + 2000 points
        if self.method == "pca":
            return RUNTIME + mmd
        if self.method == "kmeans":  # distances of every grid point (or sample chain) to every centroid
            return RUNTIME + max(mmd, FLOAT * 3 * self.n_clusters * max(grid, self.n_samples))
        if self.method == "sparse-ae":  # encoder and decoder; autograd descends all sample chains at once
            return RUNTIME + network_bytes(2 * mlp_params(2, W, L, self.code_dim), W, 2 * L,
                                           train_rows=max(B, self.n_samples), forward_rows=grid, other_peak=mmd)
        chains = max(self.n_samples, B * n if "model" in self.negatives else 0)
        hard = FLOAT * 3 * self.hard_size if "hard" in self.negatives else 0  # its points and energies
        return RUNTIME + hard + network_bytes(
            mlp_params(2, W, L), W, L, train_rows=B * (1 + n),
            forward_rows=max(grid, int(self.hard_refresh * self.hard_size)),
            chain_rows=chains_at_once(chains, W, resolve_device(self.device)), other_peak=mmd,
            copies=8 if self.spectral_norm else 6)  # spectral norm keeps the raw and the normalised weights

    def make_negatives(self, box):
        return parse_negatives(self.negatives, box, perturb_sigma=self.perturb_sigma, hard_size=self.hard_size,
                               hard_alpha=self.hard_alpha, hard_refresh=self.hard_refresh,
                               model_steps=self.model_steps, model_step_size=self.model_step_size,
                               model_noise=self.model_noise)
