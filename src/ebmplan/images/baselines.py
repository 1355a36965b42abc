"""The energy model's peers on the same images, scored by the same metrics (`ebmplan images baselines`):

- `vae`: a small VAE (MLP encoder and decoder, a 16-dimensional latent, Bernoulli likelihood on the pixels in
  [0, 1]); samples are the decoder's means for z ~ N(0, I);
- `gan`: a DCGAN-style GAN (transposed-convolution generator with batch norm, strided-convolution
  discriminator with leaky ReLU, Adam 2e-4 with beta1 = 0.5, the non-saturating loss);
- `gaussian`: a Gaussian fitted to the training pixels; `copy`: training images themselves (the
  nearest-neighbour baseline, whose score is the train-vs-test floor).

Each trains for `steps` steps of batch 128 on the training split; its CPU seconds are reported beside its scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..common.config import RunOptions
from ..common.errors import ConfigError
from ..common.runs import Run, seed_everything
from ..energy.step import GradientStep
from .classifier import cached_classifier
from .data import DATASETS, ImageData, load_images
from .figures import save_samples
from .metrics import Scorer, gaussian_fit

LATENT = 16


@dataclass
class BaselinesConfig(RunOptions):
    """Train the VAE and GAN peers and score them (with the Gaussian and copy baselines) like an images run."""

    data: str = "digits"
    """digits or mnist5k (the scoring needs labels)"""
    steps: int = 5000
    """training steps of each of the VAE and the GAN"""
    classifier_steps: int = 1500
    """training steps of the scoring classifier (cached in the run folder)"""

    def check(self) -> None:
        self.require(at_least_one=("steps", "classifier_steps"))


class VAE(nn.Module):
    def __init__(self, dim: int, width: int = 256):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, 2 * LATENT))
        self.dec = nn.Sequential(nn.Linear(LATENT, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, dim))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_var = self.enc(x).chunk(2, dim=1)  # [B, L] each
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
        recon = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="sum") / len(x)
        kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum() / len(x)
        return recon + kl

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return torch.sigmoid(self.dec(torch.randn(n, LATENT)))  # [n, D]


class Generator(nn.Module):
    def __init__(self, shape: tuple[int, int], width: int = 64):
        super().__init__()
        self.shape, h, w = shape, -(-shape[0] // 4), -(-shape[1] // 4)
        self.fc = nn.Sequential(nn.Linear(LATENT, 2 * width * h * w), nn.BatchNorm1d(2 * width * h * w), nn.ReLU())
        self.grid = (2 * width, h, w)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.up(self.fc(z).reshape(-1, *self.grid))  # [B, 1, 4h, 4w]
        return torch.sigmoid(x[:, 0, : self.shape[0], : self.shape[1]])  # [B, H, W]


class Discriminator(nn.Module):
    def __init__(self, shape: tuple[int, int], width: int = 64):
        super().__init__()
        h, w = -(-shape[0] // 4), -(-shape[1] // 4)
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * h * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, None]).squeeze(-1)  # [B]


def train_vae(data: ImageData, steps: int) -> VAE:
    x = data.train.reshape(len(data.train), -1)  # [N, D]
    vae = VAE(x.shape[1])
    update = GradientStep(vae, torch.optim.Adam(vae.parameters(), lr=1e-3), what="VAE")
    for step in range(1, steps + 1):
        update(vae.loss(x[torch.randint(len(x), (128,))]), step)
    return vae.eval()


def train_gan(data: ImageData, steps: int) -> Generator:
    gen, disc = Generator(data.shape), Discriminator(data.shape)
    g_step = GradientStep(gen, torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999)), what="generator")
    d_step = GradientStep(disc, torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                          what="discriminator")
    ones, zeros = torch.ones(128), torch.zeros(128)
    for step in range(1, steps + 1):
        real = data.train[torch.randint(len(data.train), (128,))]
        fake = gen(torch.randn(128, LATENT))
        d_loss = (F.binary_cross_entropy_with_logits(disc(real), ones)
                  + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros))
        d_step(d_loss, step)
        g_step(F.binary_cross_entropy_with_logits(disc(fake), ones), step)  # non-saturating generator loss
    return gen.eval()


def run_baselines(cfg: BaselinesConfig, *, command: str = "images baselines") -> Path:
    """Train and score every baseline; metrics.json holds one entry per baseline."""
    cfg.validate()
    data = load_images(cfg.data, seed=cfg.seed)
    if data.train_labels is None:
        raise ConfigError(f"the baselines are scored by a classifier, which needs labelled images ("
                          f"{', '.join(DATASETS)}), not {cfg.data}")
    run = Run.start(cfg, "images-baselines", command)
    seed_everything(cfg.seed)
    scorer = Scorer(cached_classifier(data, run.path, seed=cfg.seed, steps=cfg.classifier_steps), data.train,
                    data.test, data.test_labels, seed=cfg.seed)
    n, out, panels = len(data.test), {"references": scorer.references()}, {}
    for name in ("vae", "gan", "gaussian", "copy"):
        seed_everything(cfg.seed)
        t0, c0 = time.perf_counter(), time.process_time()
        if name == "vae":
            samples = train_vae(data, cfg.steps).sample(n).reshape(n, *data.shape)
        elif name == "gan":
            gen = train_gan(data, cfg.steps)
            with torch.no_grad():
                samples = gen(torch.randn(n, LATENT))
        elif name == "gaussian":
            samples = gaussian_fit(data.train, n, seed=cfg.seed)
        else:
            samples = data.train[torch.randperm(len(data.train))[:n]]
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[name] = {**scorer.score(samples), "train_seconds": seconds, "train_cpu_seconds": cpu}
        panels[name] = samples
    save_samples(run.path / "samples.png", panels)
    run.write_metrics(out)
    return run.path


def summary(m: dict) -> str:
    ref = m["references"]
    lines = [f"Fréchet floor {ref['frechet_floor_train_vs_test']:.2f}; classifier test accuracy "
             f"{ref['classifier_test_accuracy']:.3f}"]
    for name in ("vae", "gan", "gaussian", "copy"):
        s = m[name]
        lines.append(f"{name:<9} Fréchet {s['frechet']:8.2f}  confident {s['confident_share']:.2f}  classes "
                     f"{s['classes_covered']}  smallest class {s['min_class_share']:.3f}  "
                     f"CPU {s['train_cpu_seconds']:.0f} s")
    return "\n".join(lines)
