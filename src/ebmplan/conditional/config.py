"""`ConditionalConfig`: the settings of `ebmplan conditional`, composed of the shared config parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import tyro

from ..common.config import Optimiser, RunOptions
from ..common.errors import choose
from ..common.resources import RUNTIME, chains_at_once, check_memory, mlp_params, network_bytes
from ..common.runs import resolve_device
from ..energy.config import Contrastive, Inference, Network

TASKS = ("spiral",)
FUSIONS = ("concat", "film")


@dataclass
class ConditionalConfig(RunOptions, Network, Optimiser, Contrastive, Inference):
    """Multi-valued regression on the spiral: conditional and latent EBMs against an MSE regressor."""

    task: str = "spiral"
    """the task: spiral (x = first coordinate, y = second)"""
    width: int = 64
    fusion: str = "concat"
    """how F(y | x) joins x and y: concat (an MLP on [y, x]) or film (x scales and shifts each layer)"""
    negatives: str = "uniform:0.5,mismatched:0.25,hard:0.25"
    latent_negatives: str = "uniform:0.5,mismatched:0.5"
    """negatives of the latent energy (same kinds)"""
    hard_size: int = 20000
    """capacity of the hard-negative buffer"""
    hard_alpha: float = 1.0
    """priority exponent of the hard-negative buffer"""
    hard_pool: int = 4
    """each row scores pool x n buffer points under its own x and keeps the hardest n"""
    latent_dim: int = 1
    """size of the latent z (prior: uniform on [-1, 1]^L)"""
    latent_candidates: int = 8
    """prior samples searched for the best latent z* of each pair"""
    latent_steps: int = 0
    """projected gradient steps refining z* after the search"""
    latent_own_negatives: bool = True
    """also push up each negative under its own best latent (no z may make a wrong y fit)"""
    steps: int = 3000
    batch_size: int = 128
    n_eval: int = 300
    """held-out x (from the test split) to predict at"""
    starts: int = 16
    """conditional EBM: random starts per x; every distinct converged minimum is an answer"""
    latent_samples: int = 8
    """latent EBM: prior samples of z per x (one answer each)"""
    latent_starts: int = 4
    """latent EBM: random starts per (x, z); the lowest-energy end point is the answer"""
    infer_final_step_size: float = 0.002
    reach: Annotated[float, tyro.conf.arg(aliases=("--radius",))] = 0.1
    """a true branch counts as reached when a prediction lies within this distance in y"""

    def check(self) -> None:
        choose("task", self.task, TASKS)
        choose("fusion", self.fusion, FUSIONS)
        self.require(at_least_one=("hard_size", "hard_pool", "latent_dim", "latent_candidates", "n_eval",
                                   "starts", "latent_samples", "latent_starts"),
                     positive=("infer_final_step_size", "reach"), non_negative=("hard_alpha", "latent_steps"))
        check_memory(self.memory_needed(), f"training width-{self.width} networks",
                     "use a smaller --width (or --batch-size, --n-eval)", device=resolve_device(self.device))

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the three networks' parameters (one in training,
        with gradients and Adam's moments); and the largest of the passing peaks: the activations of a
        training step of the latent model (positives, negatives under z* and under their own best latent),
        the forward passes without gradients (the latent search over candidates for every negative, the
        hard-negative pools, the final energies of all predictions, the 160 x 160 figure grid), and the
        prediction chains.
        """
        B, n, W, L = self.batch_size, self.n_negatives, self.width, self.depth
        predictions = self.n_eval * max(self.starts, self.latent_samples * self.latent_starts)
        forward = max(B * n * self.hard_pool * self.latent_candidates, predictions, 160 * 160)
        return RUNTIME + network_bytes(mlp_params(3, W, L), W, L, train_rows=B * (1 + 2 * n), forward_rows=forward,
                                       chain_rows=chains_at_once(predictions, W, resolve_device(self.device)),
                                       copies=7)  # three networks' weights; one's gradients and moments; a copy

