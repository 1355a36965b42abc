"""The `ebmplan video` config: the bouncing-balls task, its models' shared settings (config parts), the negatives
ablation and the single-frame study; the memory a run needs; and the settings of older config.json files."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.config import Optimiser, RunOptions
from ..common.errors import ConfigError
from ..common.resources import FLOAT, RUNTIME, check_memory, mlp_params, network_bytes
from ..common.runs import resolve_device
from ..energy.config import Contrastive, Inference, Network
from ..energy.frame_negatives import parse_frame_negatives
from .data import bouncing_balls


@dataclass
class VideoConfig(RunOptions, Network, Optimiser, Contrastive, Inference):
    """Train a next-frame energy and an MSE regressor on bouncing balls; compare them on held-out videos."""

    width: int = 256
    depth: int = 2
    steps: int = 1000
    batch_size: int = 64
    grad_clip: float = 0.0
    loss: str = "infonce"
    negatives: str = "uniform,perturb,mismatched,hard-mismatched"
    n_negatives: int = 16
    perturb_sigma: float = 0.5
    """largest noise std of perturb negatives (each negative draws its std uniformly below it)"""
    infer_steps: int = 100
    infer_step_size: float = 0.1
    infer_max_move: float = 1.0

    size: int = 16
    """frame height and width in pixels"""
    n_balls: int = 1
    """balls per video (with several, position error compares the centre of mass of all balls)"""
    radius: float = 2.0
    """ball radius in pixels"""
    speed_min: float = 0.5
    """slowest ball speed, pixels per frame"""
    speed_max: float = 1.5
    """fastest ball speed, pixels per frame"""
    n_train: int = 300
    """training videos"""
    n_test: int = 50
    """held-out videos (a separate seed stream)"""
    length: int = 20
    """frames per video"""
    hard_pool: int = 4
    """hard-mismatched negatives: this many times more mismatched frames are scored than kept"""
    n_eval: int = 128
    """held-out examples for the one-step figures"""
    rollout: int = 10
    """rollout length in frames (fed back predictions), from the first two frames of each held-out video"""
    ablation: tuple[str, ...] = ("uniform", "uniform,mismatched", "uniform,mismatched,hard-mismatched",
                                 "uniform,perturb,mismatched,hard-mismatched")
    """negative mixtures compared in the ablation, one per value (e.g. --ablation uniform uniform,mismatched);
    --ablation alone (or '') runs none"""
    ablation_seconds: float = 25.0
    """wall-clock training time given to each ablation arm"""
    single_frame: bool = True
    """also run the single-frame task (velocity unknown): latent energy against the deterministic models"""
    single_speed: float = 2.0
    """single-frame task: every ball's speed, pixels per frame"""
    single_directions: int = 4
    """single-frame task: the directions a ball may move in (evenly spaced, diagonals first)"""
    latent_codes: int = 8
    """single-frame task: discrete latent codes of the latent-variable energy"""
    n_samples: int = 16
    """single-frame task: predictions per example (latent samples; noise starts for the energy)"""

    def __post_init__(self) -> None:
        # One spelling of "no arm" (`--ablation ''` gives a blank one), so config.json and --resume compare alike.
        self.ablation = tuple(arm.strip() for arm in self.ablation if arm.strip())

    def check(self) -> None:
        self.require(at_least_one=("size", "n_balls", "n_train", "n_test", "hard_pool", "n_eval", "rollout",
                                   "single_directions", "latent_codes", "n_samples"),
                     positive=("radius", "single_speed", "ablation_seconds"))
        if self.length < self.rollout + 2:
            raise ConfigError(f"--length must be at least --rollout + 2 = {self.rollout + 2}, got {self.length}")
        check_memory(self.memory_needed(), f"training width-{self.width} networks on {self.size}x{self.size} "
                     f"frames", "use a smaller --width or --size (or --batch-size, --n-negatives, --n-train)",
                     device=resolve_device(self.device))  # before the test videos below are drawn
        parse_frame_negatives(self.negatives)
        for arm in self.ablation:
            if ";" in arm:
                raise ConfigError(f"--ablation takes one negative mixture per value (e.g. --ablation uniform "
                                  f"uniform,mismatched), got {arm!r}")
            parse_frame_negatives(arm)
        # One tiny video of each task checks the size, radius, speeds and directions.
        bouncing_balls(1, 1, size=self.size, n_balls=self.n_balls, radius=self.radius,
                       speed=(self.speed_min, self.speed_max))
        if self.single_frame:
            bouncing_balls(1, 1, size=self.size, radius=self.radius, directions=self.single_directions,
                           speed=(self.single_speed, self.single_speed))

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the six networks alive by the end (energy,
        regressor, an ablation arm, the three single-frame models), each counted as the largest of them, an MLP
        from three frames to one, with gradients and Adam's moments of the one in training; the videos of both
        tasks (frames, the examples cut from them, and render's per-ball distances while they are drawn); and
        the largest of the passing peaks: a training step (each candidate frame's activations and pixels, and
        the hard-mining pool), the single-frame predictions (descended by autograd all at once) and their
        comparison with every possible next frame.
        """
        P, W, L, B, n = self.size**2, self.width, self.depth, self.batch_size, self.n_negatives
        frames = (self.n_train + self.n_test) * self.length * P * (2 if self.single_frame else 1)
        chains = max(self.n_test, min(self.n_eval, self.n_test * (self.length - 1)) * self.n_samples)
        pool = B * n * self.hard_pool
        passing = FLOAT * P * max(B * (1 + n) + pool,  # candidate frames of a step and the hard-mining pool
                                  6 * chains,  # each chain's frame, context (2), gradient, move and step
                                  2 * chains * self.single_directions)  # predictions minus possible frames
        return RUNTIME + FLOAT * frames * (5 + self.n_balls) + network_bytes(
            mlp_params(3 * P, W, L, outputs=P), W, L, train_rows=max(B * (1 + n), chains), forward_rows=pool,
            copies=9, other_peak=passing)
