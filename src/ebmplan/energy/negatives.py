"""Negative examples: where the model must learn to put high energy.

Every source of negatives, whatever its data (points here, video frames in `frame_negatives.py`, states between
a start and a goal for the subgoal generator), implements `Negatives`:

    neg = source.sample(pos, n, energy, context, index)  # pos [B, D] -> neg [B, n, D]
    source.observe(neg, e_neg, e_pos, margin)            # after the loss: neg [B, n, D], e_neg [B, n], e_pos [B]

For a conditional energy F(x | c) a source works per row: row b's negatives are free variables to be paired
with row b's own context [B, C] (`mismatched` takes them from other rows; `model` and `hard` score them under
that row's context). `index` [B], when the trainer gives it, says which training example each row is, for
sources that keep something per example or know where an example sits in its data (frames' chains and
mismatched frames).

The kinds of one data type are in a `Registry` by name: `POINT_KINDS.mixture("uniform:0.5,hard:0.5", box)` (or
`parse_negatives`) builds a weighted `Mixture`; a wrong name is a ConfigError (a ValueError) listing the valid
ones. The spec syntax (`parse_weights`) and the split of n among the kinds (`split_by_weight`) are shared by
every registry, and a kind name means the same in each that has it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from ..common.errors import ConfigError, choose
from .inference import descend
from .models import EnergyModel

Box = tuple[torch.Tensor, torch.Tensor]  # (low [D], high [D])


class Negatives(ABC):
    """A source of negatives. `sample` returns [B, n, D]; `observe` sees every negative used in a step."""

    @abstractmethod
    def sample(self, pos: torch.Tensor, n: int, energy: EnergyModel, context: torch.Tensor | None = None,
               index: torch.Tensor | None = None) -> torch.Tensor:
        """n negatives per row [B, n, D] for positives `pos` [B, D] of `energy`, under `context` [B, C] (None for
        an unconditional energy); `index` [B]: the training examples the rows are (None where unknown)."""

    def observe(self, neg: torch.Tensor, e_neg: torch.Tensor, e_pos: torch.Tensor, margin: float) -> None:
        """Feedback after the loss: negatives [B, n, D], their energies [B, n], positive energies [B]."""
        return None  # most samplers learn nothing from it

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        return None  # stateless samplers have nothing to restore


Factory = Callable[..., Negatives]  # (the data its kind draws from, **every kind's options) -> Negatives


class Registry:
    """The kinds of negatives for one type of data, by name, in the order they were registered.

    A factory takes the data the kinds draw from (the points' box; the frames' videos and example positions)
    and the options of every kind of the mixture as keywords, and reads its own (`hard_size`, `perturb_sigma`,
    ...), so one set of options can build any mixture.
    """

    def __init__(self, what: str):
        self.what = what  # how error messages name a kind, e.g. "negative kind"
        self.factories: dict[str, Factory] = {}

    def register(self, name: str) -> Callable[[Factory], Factory]:
        """Decorator: `@KINDS.register("uniform")` over a factory."""
        def add(factory: Factory) -> Factory:
            self.factories[name] = factory
            return factory
        return add

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.factories)

    def make(self, name: str, *data, **options) -> Negatives:
        """One kind by name; an unknown name is a ConfigError listing the valid ones."""
        return self.factories[choose(self.what, name, self.factories)](*data, **options)

    def weights(self, spec: str) -> dict[str, float]:
        """"uniform:0.5,hard:0.5" -> {kind: weight} (see `parse_weights`)."""
        return parse_weights(spec, self.names, self.what)

    def mixture(self, spec: str | dict[str, float], *data, **options) -> Mixture:
        """A weighted mixture from a spec or {kind: weight}; the kinds are built in its order."""
        weights = self.weights(spec) if isinstance(spec, str) else spec
        if not weights or min(weights.values()) <= 0:
            raise ConfigError(f"a mixture of negatives needs at least one {self.what} with a weight > 0, got "
                              f"{weights}")
        return Mixture({name: (weight, self.make(name, *data, **options)) for name, weight in weights.items()})


def uniform_in(box: Box, shape: tuple[int, ...]) -> torch.Tensor:
    low, high = box
    return low + (high - low) * torch.rand(*shape, low.shape[-1], device=low.device)


class Uniform(Negatives):
    """Uniform noise over the padded data box."""

    def __init__(self, box: Box):
        self.box = box

    def sample(self, pos, n, energy, context=None, index=None):
        return uniform_in(self.box, (pos.shape[0], n))


class Perturb(Negatives):
    """Positives plus Gaussian noise of standard deviation `sigma`: negatives right next to the data.

    With `spread`, each negative's std is drawn uniformly in [0, sigma] instead (negatives along the whole way
    from the data outwards); with `clamp` (a box), they are clipped into it.
    """

    def __init__(self, sigma: float = 0.1, *, spread: bool = False, clamp: Box | None = None):
        if sigma <= 0:
            raise ConfigError(f"perturb negatives need sigma > 0, got {sigma}")
        self.sigma, self.spread, self.clamp = sigma, spread, clamp

    def sample(self, pos, n, energy, context=None, index=None):
        (B, D), device = pos.shape, pos.device
        sigma = self.sigma * torch.rand(B, n, 1, device=device) if self.spread else self.sigma  # [B, n, 1]
        neg = pos[:, None, :] + sigma * torch.randn(B, n, D, device=device)
        return neg if self.clamp is None else neg.clamp(*self.clamp)


class Mismatched(Negatives):
    """For pairs only: each row's negatives are the free variables of other rows of the batch, so the
    model learns that a y which is right for another context is wrong for this one."""

    def sample(self, pos, n, energy, context=None, index=None):
        if context is None:
            raise ConfigError("mismatched negatives need a conditional energy (pairs of a context and a free "
                              "variable)")
        B = pos.shape[0]
        if B == 1:  # no other row to take from
            return pos[:, None, :].expand(1, n, pos.shape[1]).clone()
        shift = torch.randint(1, B, (B, n), device=pos.device)  # never 0: never the row's own y
        return pos[(torch.arange(B, device=pos.device)[:, None] + shift) % B]  # [B, n, D]


class ModelSamples(Negatives):
    """The model's own samples: a short run of gradient descent (Langevin if `noise` > 0) from uniform noise
    or, with `persistent`, from a buffer of earlier samples (persistent contrastive divergence)."""

    def __init__(self, box: Box, *, steps: int = 10, step_size: float = 0.01, noise: float = 0.005,
                 persistent: bool = True, buffer_size: int = 10000, reinit: float = 0.05):
        self.box, self.steps, self.step_size, self.noise = box, steps, step_size, noise
        self.persistent, self.reinit = persistent, reinit
        self.buffer = uniform_in(box, (buffer_size,)) if persistent else None  # [S, D]

    def sample(self, pos, n, energy, context=None, index=None):
        B = pos.shape[0]
        if self.buffer is not None:
            idx = torch.randint(len(self.buffer), (B * n,), device=pos.device)
            start = self.buffer[idx]
            fresh = torch.rand(B * n, device=pos.device) < self.reinit  # restart a few chains from noise
            start[fresh] = uniform_in(self.box, (int(fresh.sum()),))
        else:
            start = uniform_in(self.box, (B * n,))
        ctx = None if context is None else context.repeat_interleave(n, dim=0)
        out = descend(energy, start, context=ctx, steps=self.steps, step_size=self.step_size, tol=0.0,
                      box=self.box, noise=self.noise).samples  # [B*n, D]
        if self.buffer is not None:
            self.buffer[idx] = out
        return out.reshape(B, n, -1)

    def state_dict(self):
        return {} if self.buffer is None else {"buffer": self.buffer}

    def load_state_dict(self, state):
        if "buffer" in state:
            self.buffer = state["buffer"].clone()


class HardBuffer(Negatives):
    """Prioritized hard negatives: the seed's "prioritized sampling of negatives wrongly given low energy".

    Every negative the trainer uses is stored in a ring buffer of `size`. Each step the energies of a
    `refresh` fraction of the buffer are recomputed with the current model, and negatives are drawn with
    probability proportional to `(gap / max gap + eps) ** alpha`, where `gap = max(0, mean E+ + margin - E)`:
    the further a negative sits inside the margin of the positives, the more often it is shown again.
    `alpha = 0` samples uniformly.

    With a context (a conditional energy) hardness depends on the row: each row draws a pool of `pool * n`
    buffer points, scores them under its own context, and picks its n negatives from that pool by the same
    rule, with the row's own positive energy E+_b in place of mean E+.
    """

    def __init__(self, box: Box, *, size: int = 4096, alpha: float = 1.0, refresh: float = 0.25,
                 eps: float = 1e-3, pool: int = 4):
        if size < 1 or alpha < 0 or not 0 < refresh <= 1 or pool < 1:
            raise ConfigError(f"the hard-negative buffer needs size >= 1, alpha >= 0, 0 < refresh <= 1 and "
                              f"pool >= 1 (got size={size}, alpha={alpha}, refresh={refresh}, pool={pool})")
        self.alpha, self.refresh, self.eps, self.pool = alpha, refresh, eps, pool
        self.margin = 1.0
        self.points = uniform_in(box, (size,))  # [S, D]: seeded with uniform noise so it is never empty
        self.energy = torch.full((size,), float("inf"), device=box[0].device)  # inf: not yet scored
        self.threshold = torch.tensor(0.0, device=box[0].device)
        self.cursor = torch.tensor(0)

    def priorities(self) -> torch.Tensor:
        return self._priority(self.threshold - self.energy)  # [S]

    def _priority(self, gap: torch.Tensor) -> torch.Tensor:
        # A diverged model's energies may be non-finite: the trainer's step reports it, so the sampler must not
        # crash on it first (nan counts as no gap, +-inf as the largest finite gaps).
        gap = torch.relu(torch.nan_to_num(gap, nan=0.0))
        # Relative to the most offending negative (per row), so huge energy scales cannot overflow the sampler.
        return (gap / gap.amax(-1, keepdim=True).clamp_min(1e-12) + self.eps).pow(self.alpha)

    @torch.no_grad()
    def sample(self, pos, n, energy, context=None, index=None):
        if context is not None:
            return self._sample_per_context(pos, n, energy, context)
        S = len(self.points)
        stale = torch.randperm(S, device=self.points.device)[: max(1, int(self.refresh * S))]
        # A non-finite energy means the model diverged; the trainer stops on it, the sampler must not crash first.
        self.energy[stale] = torch.nan_to_num(energy(self.points[stale]), nan=float("inf"))
        idx = torch.multinomial(self.priorities(), pos.shape[0] * n, replacement=True)
        return self.points[idx].reshape(pos.shape[0], n, -1)

    def _sample_per_context(self, pos, n, energy, context):
        B, D = pos.shape
        idx = torch.randint(len(self.points), (B, self.pool * n), device=self.points.device)
        pool = self.points[idx]  # [B, m, D]
        e_pool = energy.energies(pool, context)  # [B, m]: each row's pool under its own context
        threshold = energy(pos, context)[:, None] + self.margin  # [B, 1]
        pick = torch.multinomial(self._priority(threshold - e_pool), n, replacement=True)  # [B, n]
        return pool.gather(1, pick[..., None].expand(B, n, D))  # [B, n, D]

    @torch.no_grad()
    def observe(self, neg, e_neg, e_pos, margin):
        self.threshold = e_pos.mean() + margin
        self.margin = margin
        neg, e_neg = neg.reshape(-1, neg.shape[-1]), e_neg.reshape(-1)
        S, k = len(self.points), min(len(neg), len(self.points))
        slots = (self.cursor + torch.arange(k)) % S
        self.points[slots], self.energy[slots] = neg[:k].detach(), e_neg[:k].detach()
        self.cursor = (self.cursor + k) % S

    def state_dict(self):
        return {"points": self.points, "energy": self.energy, "threshold": self.threshold, "cursor": self.cursor}

    def load_state_dict(self, state):
        for key, value in state.items():
            setattr(self, key, value.clone())


class Drawn(Negatives):
    """Negatives a recipe draws itself, whatever the positives: `draw(count)` -> [count, D] (e.g. the subgoal
    generator's states off the observed free space)."""

    def __init__(self, draw: Callable[[int], torch.Tensor]):
        self.draw = draw

    def sample(self, pos, n, energy, context=None, index=None):
        return self.draw(pos.shape[0] * n).reshape(pos.shape[0], n, -1)


class Mixture(Negatives):
    """A weighted mixture: each part draws its share of the n negatives (`split_by_weight`), in order; every part
    observes them all."""

    def __init__(self, parts: dict[str, tuple[float, Negatives]]):
        self.parts = parts

    def counts(self, n: int) -> dict[str, int]:
        return split_by_weight({k: w for k, (w, _) in self.parts.items()}, n)

    def sample(self, pos, n, energy, context=None, index=None):
        blocks = [self.parts[k][1].sample(pos, c, energy, context, index)
                  for k, c in self.counts(n).items() if c > 0]
        return torch.cat(blocks, dim=1)  # [B, n, D]

    def observe(self, neg, e_neg, e_pos, margin):
        for _, part in self.parts.values():
            part.observe(neg, e_neg, e_pos, margin)

    def state_dict(self):
        return {f"{k}.{key}": v for k, (_, part) in self.parts.items() for key, v in part.state_dict().items()}

    def load_state_dict(self, state):
        for k, (_, part) in self.parts.items():
            prefix = f"{k}."
            part.load_state_dict({key[len(prefix):]: v for key, v in state.items() if key.startswith(prefix)})


def parse_weights(spec: str, kinds, what: str) -> dict[str, float]:
    """"uniform:0.5,hard:0.5" -> {kind: weight}: each kind from `kinds` once, a bare name weighing 1."""
    weights: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, text = item.partition(":")
        choose(what, name, kinds)
        try:
            weight = float(text) if text else 1.0
        except ValueError:
            raise ConfigError(f"negative weight {text!r} in {spec!r} is not a number") from None
        if weight <= 0 or name in weights:
            raise ConfigError(f"each negative kind appears once with a weight > 0; got {spec!r}")
        weights[name] = weight
    if not weights:
        raise ConfigError(f"no negatives in {spec!r}; use e.g. '{kinds[0]}:0.5,{kinds[-1]}:0.5' from "
                          f"{', '.join(kinds)}")
    return weights


def split_by_weight(weights: dict[str, float], n: int) -> dict[str, int]:
    """How many of the n negatives each kind draws: its share of the weights, rounded down, with the rounding
    remainder going to the first kind."""
    total = sum(weights.values())
    counts = {k: int(n * w / total) for k, w in weights.items()}
    counts[next(iter(counts))] += n - sum(counts.values())
    return counts


# The point kinds, over the padded data box. Options: perturb_sigma, model_steps, model_step_size, model_noise,
# hard_size, hard_alpha, hard_refresh, hard_pool; `mismatched` works only for conditional energies.
POINT_KINDS = Registry("negative kind")
POINT_KINDS.register("uniform")(lambda box, **o: Uniform(box))
POINT_KINDS.register("perturb")(lambda box, **o: Perturb(o.get("perturb_sigma", 0.1)))
POINT_KINDS.register("model")(lambda box, **o: ModelSamples(
    box, steps=o.get("model_steps", 10), step_size=o.get("model_step_size", 0.01),
    noise=o.get("model_noise", 0.005)))
POINT_KINDS.register("hard")(lambda box, **o: HardBuffer(
    box, size=o.get("hard_size", 4096), alpha=o.get("hard_alpha", 1.0), refresh=o.get("hard_refresh", 0.25),
    pool=o.get("hard_pool", 4)))
POINT_KINDS.register("mismatched")(lambda box, **o: Mismatched())
NEGATIVES = POINT_KINDS.names


def parse_negatives(spec: str, box: Box, **options) -> Mixture:
    """Build a point mixture from a spec like "uniform:0.5,perturb:0.25,hard:0.25" (a bare name has weight 1);
    `options` as for `POINT_KINDS`."""
    return POINT_KINDS.mixture(spec, box, **options)
