"""Energies over video frames and their negatives.

- `FrameEnergy`: F(next frame | previous frames), an MLP on [x, context] whose first layer is split into an
  x part and a context part, so `energies` (many candidate frames per context) computes the context part
  once per row;
- `FrameRegressor`: the MSE baseline with the same hidden layers;
- `FrameNegatives`: per-example negative frames (uniform, perturbed, mismatched, hard-mined, model samples);
  the hard mining scores candidates under each row's own context, which the generic `HardBuffer` does not;
- `LatentFrameEnergy`: F(next frame | previous frames, z) with a discrete latent z.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, choose
from .inference import descend
from .models import ACTIVATIONS, EnergyModel
from .negatives import parse_weights


def _body(width: int, depth: int, out: int, activation: str) -> nn.Sequential:
    act = ACTIVATIONS[choose("activation", activation, ACTIVATIONS)]
    layers: list[nn.Module] = [act()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), act()]
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


def _check(pixels: int, frames: int, width: int, depth: int) -> None:
    if pixels < 1 or frames < 1 or width < 1 or depth < 1:
        raise ConfigError(f"a frame network needs pixels, context frames, width and depth >= 1 (got "
                          f"pixels={pixels}, frames={frames}, width={width}, depth={depth})")


class FrameEnergy(EnergyModel):
    """F(x | context): x is one flattened frame [B, P], context `frames` flattened frames [B, frames * P].

    `depth` counts hidden layers of `width` units, as in `MLPEnergy`.
    """

    def __init__(self, pixels: int, *, frames: int = 2, width: int = 256, depth: int = 2,
                 activation: str = "silu"):
        super().__init__()
        _check(pixels, frames, width, depth)
        self.dim, self.context_dim = pixels, frames * pixels
        self.x_in = nn.Linear(pixels, width)
        self.context_in = nn.Linear(frames * pixels, width, bias=False)
        self.body = _body(width, depth, 1, activation)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.x_in(x) + self.context_in(context)).squeeze(-1)  # [B]

    def energies(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.x_in(x) + self.context_in(context)[:, None, :]  # [B, n, W]: context part once per row
        return self.body(h).squeeze(-1)  # [B, n]


class FrameRegressor(nn.Module):
    """The baseline: predict the next frame [B, P] from the context [B, frames * P], trained by MSE.

    Same hidden layers as `FrameEnergy`; only the ends differ (context in, a frame out).
    """

    def __init__(self, pixels: int, *, frames: int = 2, width: int = 256, depth: int = 2,
                 activation: str = "silu"):
        super().__init__()
        _check(pixels, frames, width, depth)
        self.net = nn.Sequential(nn.Linear(frames * pixels, width), _body(width, depth, pixels, activation))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.net(context)  # [B, P]


FRAME_NEGATIVES = ("uniform", "perturb", "mismatched", "hard", "model")


class FrameNegatives:
    """Negative next frames for each (context, true next frame) training example.

    - `uniform`: frames of uniform noise in [0, 1];
    - `perturb`: the true next frame plus Gaussian noise of a std drawn uniformly in [0, perturb_sigma],
      clamped to [0, 1] (negatives along the path gradient descent takes from noise to the answer);
    - `mismatched`: real frames that do not follow the context: half from the same video at another time,
      half from any training video;
    - `hard`: per-context hard mining: `hard_pool` times as many mismatched frames are scored under each
      row's own context and the lowest-energy ones (those the model wrongly finds most plausible) are kept;
    - `model`: the model's own predictions: persistent gradient-descent chains, one set per training example,
      started from uniform noise and moved `model_steps` further each time the example is drawn (a few
      restart from noise, `model_reinit`), so they track what inference would predict for that context.

    `weights` maps these kinds to their share of the n negatives per example.
    """

    def __init__(self, frames: torch.Tensor, where: torch.Tensor, weights: dict[str, float], *,
                 perturb_sigma: float = 0.5, hard_pool: int = 4, model_steps: int = 5,
                 model_step_size: float = 0.1, model_max_move: float = 1.0, model_reinit: float = 0.05):
        for kind in weights:
            choose("frame negative kind", kind, FRAME_NEGATIVES)
        if not weights or min(weights.values()) <= 0:
            raise ConfigError(f"frame negatives need at least one kind with a weight > 0, got {weights}")
        if perturb_sigma <= 0 or hard_pool < 1:
            raise ConfigError(f"frame negatives need perturb_sigma > 0 and hard_pool >= 1 (got "
                              f"{perturb_sigma}, {hard_pool})")
        self.frames = frames  # [N, T, P]: every training frame, by video and time
        self.where = where  # [M, 2]: (video, time of the true next frame) of each training example
        self.weights, self.perturb_sigma, self.hard_pool = weights, perturb_sigma, hard_pool
        self.model_steps, self.model_step_size = model_steps, model_step_size
        self.model_max_move, self.model_reinit = model_max_move, model_reinit
        self.chains: torch.Tensor | None = None  # [M, k, P], made on first use

    def advance_chains(self, idx: torch.Tensor, context: torch.Tensor, k: int,
                       energy: EnergyModel) -> torch.Tensor:
        """Move the k chains of each example `idx` [B] a few descent steps under its context: [B, k, P]."""
        P, device = self.frames.shape[-1], self.frames.device
        if self.chains is None:
            self.chains = torch.rand(len(self.where), k, P, device=device)
        start = self.chains[idx]  # [B, k, P]
        fresh = torch.rand(start.shape[:2], device=device) < self.model_reinit
        start[fresh] = torch.rand(int(fresh.sum()), P, device=device)
        moved = descend(energy, start.reshape(-1, P), context=context.repeat_interleave(k, 0),
                        steps=self.model_steps, step_size=self.model_step_size, max_move=self.model_max_move,
                        tol=0.0, box=(torch.zeros(P, device=device), torch.ones(P, device=device)))
        moved = moved.samples.reshape(start.shape)
        self.chains[idx] = moved
        return moved

    def counts(self, n: int) -> dict[str, int]:
        total = sum(self.weights.values())
        counts = {k: int(n * w / total) for k, w in self.weights.items()}
        counts[next(iter(counts))] += n - sum(counts.values())  # rounding remainder to the first kind
        return counts

    def mismatched(self, idx: torch.Tensor, m: int) -> torch.Tensor:
        """m real frames per example [B, m, P], none of them the example's true next frame."""
        (N, T, _), device = self.frames.shape, self.frames.device
        video, time = self.where[idx, 0][:, None], self.where[idx, 1][:, None]  # [B, 1]
        v = video.expand(-1, m).clone()  # [B, m]
        other = torch.rand(v.shape, device=device) < 0.5
        v[other] = torch.randint(N, (int(other.sum()),), device=device)
        same = v == video
        t = torch.where(same, torch.randint(T - 1, v.shape, device=device), torch.randint(T, v.shape, device=device))
        t = t + (same & (t >= time)).long()  # within its own video, skip the true next frame
        return self.frames[v, t]

    @torch.no_grad()
    def sample(self, idx: torch.Tensor, target: torch.Tensor, context: torch.Tensor, n: int,
               energy: EnergyModel) -> torch.Tensor:
        """n negatives [B, n, P] for examples `idx` [B] with true next frames `target` [B, P]."""
        (B, P), device = target.shape, target.device
        blocks = []
        for kind, k in self.counts(n).items():
            if k == 0:
                continue
            if kind == "uniform":
                blocks.append(torch.rand(B, k, P, device=device))
            elif kind == "perturb":
                sigma = self.perturb_sigma * torch.rand(B, k, 1, device=device)
                blocks.append((target[:, None] + sigma * torch.randn(B, k, P, device=device)).clamp(0, 1))
            elif kind == "mismatched":
                blocks.append(self.mismatched(idx, k))
            elif kind == "model":
                blocks.append(self.advance_chains(idx, context, k, energy))
            else:
                pool = self.mismatched(idx, k * self.hard_pool)  # [B, k * pool, P]
                hardest = energy.energies(pool, context).topk(k, dim=1, largest=False).indices  # [B, k]
                blocks.append(pool.gather(1, hardest[..., None].expand(-1, -1, P)))
        return torch.cat(blocks, dim=1)  # [B, n, P]


def parse_frame_negatives(spec: str) -> dict[str, float]:
    """"uniform:1,perturb:1,mismatched:1,hard:1" -> {kind: weight}; a bare name has weight 1."""
    return parse_weights(spec, FRAME_NEGATIVES, "frame negative kind")


class LatentFrameEnergy(EnergyModel):
    """A latent-variable energy F(x | context, z) = sum of squared pixel differences between x and a decoded
    frame G(context, z), with z one of `codes` discrete latent codes (one-hot).

    The context handed to `forward` is [previous frames, one-hot z], so `descend` works unchanged; for a
    fixed z the minimum over x is G(context, z). Training lowers the free energy min_z F(x | context, z)
    (the best latent, found exactly by trying every code); its capacity is limited by the number of codes,
    so the energy cannot be flat. Prediction samples z from the uniform prior and minimises over x: each
    code gives its own sharp answer.
    """

    def __init__(self, pixels: int, *, frames: int = 1, codes: int = 8, width: int = 256, depth: int = 2,
                 activation: str = "silu"):
        super().__init__()
        _check(pixels, frames, width, depth)
        if codes < 1:
            raise ConfigError(f"a latent frame energy needs at least 1 latent code, got {codes}")
        self.dim, self.codes, self.frames = pixels, codes, frames
        self.context_dim = frames * pixels + codes
        self.decoder = nn.Sequential(nn.Linear(self.context_dim, width),
                                     _body(width, depth, pixels, activation))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return (x - self.decoder(context)).pow(2).sum(-1)  # [B]

    def with_codes(self, frames: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The full context [B, frames * P + codes] for previous frames [B, frames * P] and codes z [B]."""
        return torch.cat([frames, nn.functional.one_hot(z, self.codes).to(frames.dtype)], dim=-1)

    def decode_all(self, frames: torch.Tensor) -> torch.Tensor:
        """G(context, z) for every code: [B, codes, P]."""
        B = len(frames)
        z = torch.arange(self.codes, device=frames.device).repeat(B)  # [B * codes]
        out = self.decoder(self.with_codes(frames.repeat_interleave(self.codes, 0), z))  # [B * codes, P]
        return out.reshape(B, self.codes, -1)

    def energy_per_code(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """F(x | frames, z) for every code z: [B, codes]."""
        return (x[:, None, :] - self.decode_all(frames)).pow(2).sum(-1)
