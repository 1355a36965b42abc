"""The named 2D data sets: their generators and what is true about each (docs/protocol.md §2).

The suite is the one the EBM and flow literature uses. `8gaussians`, `2spirals`, `swissroll`, `circles`,
`rings`, `moons`, `pinwheel` and `checkerboard` follow FFJORD's `lib/toy_data.py` (Grathwohl et al. 2019,
github.com/rtqichen/ffjord, its latest version) in scale, noise and construction; `25gaussians` is the grid of
WGAN-GP's `gan_toy.py` (Gulrajani et al. 2017): 25 modes at 2 * {-2..2}^2 with std 0.05, all divided by 2.828.
`spiral` is the seed's spiral (docs/protocol.md §2), kept exactly as it was.

Where FFJORD draws with sklearn (`make_moons`, `make_circles`, `make_swiss_roll`) the same construction is
written out here (sklearn is not a dependency); moons, circles and rings place their points at evenly spaced
angles as sklearn and FFJORD do. Before the suite, ebmplan had its own `moons`, `rings`, `8gaussians`,
`checkerboard`, `pinwheel` and `swissroll` at the spiral's scale (extent about 3, noise 0.05-0.1); those names
now mean FFJORD's sets (extent about 8, noise 0.08-0.35). TorchEBM's dataset classes (`torchebm.datasets`)
differ again in scale and noise: its 8 Gaussians sit at radius 2 with std 0.02 (FFJORD: 2.83 and 0.35), its
moons are sklearn's at scale 1 with noise 0.05 (FFJORD: scale 2, noise 0.2), its swiss roll is rescaled to a
std of about 0.5 with almost no noise, and its checkerboard has 32 unit squares over [-4, 4]^2 (FFJORD: 8
squares of side 2); figures of the two libraries on sets of the same name are on the same data only when the
scale and noise are matched.

Each set (a `Curve`, `Pinwheel`, `Mixture` or `Checkerboard`) has a `family`, draws points with
`sample(rng, n)` -> [n, 2] and says what its metrics need with `truth(seed)` (`Truth`): a curve set gives its
clean curve (the same curve without noise); a mixture its mode centres and std; an area its support as cells.
Every set also gives its generator's own log-density: exact for the mixtures and the checkerboard; for the
curves, by quadrature over the curve's parameter (a dense evenly spaced grid of it); for `pinwheel`, by the
change of variables from its Gaussian features, whose pre-images are found numerically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtr

CLEAN_POINTS = 20000  # points of a clean curve, the reference of precision and coverage
QUADRATURE = 20000  # at most this many parameter values per curve arm in the generator's density
Arm = Callable[[np.ndarray], np.ndarray]  # curve parameter u in [0, 1] [M] -> points [M, 2]


@dataclass(frozen=True)
class Truth:
    """What the metrics of a named set need, and its generator's log-density (nats, [M, 2] -> [M])."""

    family: str  # "curve", "mixture" or "area"
    log_density: Callable[[np.ndarray], np.ndarray]
    clean: np.ndarray | None = None  # curve: [CLEAN_POINTS, 2]
    centres: np.ndarray | None = None  # mixture: [K, 2]
    std: float = 0.0  # mixture: the std of every mode, per axis
    cells: np.ndarray | None = None  # area: [C, 2, 2], the (low, high) corners of cells tiling the support


# ------------------------------------------------------------------------------------------------- curves

@dataclass(frozen=True)
class Curve:
    """Points on arms of a curve (equal shares), plus isotropic Gaussian noise of std `noise` and, for
    `2spirals`, a uniform square offset of half-width `box` per axis. `spaced`: the generator places its
    points at evenly spaced parameters, like sklearn (`"closed"`: both ends included, `"open"`: the last left
    out), instead of drawing them at random."""

    arms: tuple[Arm, ...]
    noise: float
    box: float = 0.0
    spaced: str | None = None
    family = "curve"

    def parameters(self, rng: np.random.Generator, count: int) -> np.ndarray:
        if self.spaced is None:
            return rng.uniform(size=count)
        return np.linspace(0.0, 1.0, count, endpoint=self.spaced == "closed")

    def clean(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n points on the arms (n // arms each, the last arm taking the rest), without noise: [n, 2]."""
        counts = [n // len(self.arms)] * (len(self.arms) - 1)
        counts.append(n - sum(counts))
        return np.concatenate([arm(self.parameters(rng, c)) for arm, c in zip(self.arms, counts, strict=True)])

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        points = self.clean(rng, n)
        if self.box:
            points = points + rng.uniform(-self.box, self.box, size=points.shape)
        return points + self.noise * rng.standard_normal(points.shape)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log p(x) by quadrature: the noise kernel averaged over midpoints of each arm's parameter, spaced so
        that neighbours lie at most a quarter of the noise std apart (the midpoint rule's error is then far
        below 1e-6), summed over the points within 7 noise std (plus the box) of x, beyond which a point adds
        less than e^-24 of the peak: [M, 2] -> [M]."""
        centres, weights = [], []
        for arm in self.arms:
            probe = arm((np.arange(4096) + 0.5) / 4096)
            speed = 4096 * np.linalg.norm(np.diff(probe, axis=0), axis=1).max()  # distance per unit u
            count = int(min(QUADRATURE, max(1000, math.ceil(4 * speed / self.noise))))
            centres.append(arm((np.arange(count) + 0.5) / count))
            weights.append(np.full(count, 1 / (count * len(self.arms))))
        centres, weights = np.concatenate(centres), np.concatenate(weights)  # [Q, 2], [Q]
        x = np.asarray(x, dtype=np.float64)
        near = cKDTree(centres).query_ball_point(x, 7 * self.noise + math.sqrt(2) * self.box)
        rows = np.repeat(np.arange(len(x)), [len(n) for n in near])
        cols = np.fromiter((c for n in near for c in n), dtype=np.int64, count=len(rows))
        kernel = weights[cols] * np.exp(self._log_kernel(x[rows] - centres[cols]).sum(-1))  # [pairs]
        return np.log(np.maximum(np.bincount(rows, weights=kernel, minlength=len(x)), 1e-300))

    def _log_kernel(self, d: np.ndarray) -> np.ndarray:
        """Per-axis log-density of the noise at offsets d."""
        s = self.noise
        if not self.box:
            return -0.5 * (d / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))
        # uniform on [-box, box] convolved with N(0, s^2): (Phi((d + box)/s) - Phi((d - box)/s)) / (2 box),
        # taken at |d| so that the difference never cancels on the far side
        a = np.abs(d)
        mass = ndtr((self.box - a) / s) - ndtr((-self.box - a) / s)
        return np.log(np.maximum(mass, 1e-300)) - math.log(2 * self.box)

    def truth(self, seed: int) -> Truth:
        return Truth("curve", self.log_density, clean=self.clean(np.random.default_rng(10_000 + seed),
                                                                 CLEAN_POINTS))


def _polar(radius: float, turn: float = 2 * math.pi, start: float = 0.0) -> Arm:
    return lambda u: radius * np.stack([np.cos(start + turn * u), np.sin(start + turn * u)], 1)


def _spiral_arm(u: np.ndarray) -> np.ndarray:
    theta = math.pi / 2 + 4 * math.pi * np.sqrt(u)
    r = 1.5 * theta / (math.pi / 2 + 4 * math.pi)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], 1)


def _swissroll_arm(u: np.ndarray) -> np.ndarray:  # sklearn make_swiss_roll's (x, z), divided by 5
    t = 1.5 * math.pi * (1 + 2 * u)
    return np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5


def _two_spirals_arm(sign: float) -> Arm:
    # FFJORD: n = sqrt(u) * 3 pi, (-n cos n, n sin n) + U[0, 0.5]^2, the second arm mirrored, all / 3; the
    # uniform offset's mean (1/12 per axis after / 3) belongs to the curve, its spread to the noise (`box`)
    def arm(u: np.ndarray) -> np.ndarray:
        n = np.sqrt(u) * 3 * math.pi
        return sign * (np.stack([-np.cos(n) * n, np.sin(n) * n], 1) / 3 + 1 / 12)
    return arm


def _moon(upper: bool) -> Arm:  # sklearn make_moons, then * 2 + (-1, -0.2) as FFJORD does
    def arm(u: np.ndarray) -> np.ndarray:
        t = math.pi * u
        moon = np.stack([np.cos(t), np.sin(t)], 1) if upper else np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
        return 2 * moon + np.array([-1.0, -0.2])
    return arm


def spiral(rng: np.random.Generator, n: int, noise: float = 0.05) -> np.ndarray:
    """theta = pi/2 + 4 pi sqrt(u); r = 1.5 theta / (pi/2 + 4 pi); plus Gaussian noise (docs/protocol.md §2)."""
    return _spiral_arm(rng.uniform(size=n)) + noise * rng.standard_normal((n, 2))


SPIRAL = Curve((_spiral_arm,), noise=0.05)
CURVES = {
    "spiral": SPIRAL,
    "2spirals": Curve((_two_spirals_arm(1.0), _two_spirals_arm(-1.0)), noise=0.1, box=1 / 12),
    "swissroll": Curve((_swissroll_arm,), noise=0.2),
    "circles": Curve((_polar(3.0), _polar(1.5)), noise=0.24, spaced="open"),
    "rings": Curve(tuple(_polar(r) for r in (3.0, 2.25, 1.5, 0.75)), noise=0.08, spaced="open"),
    "moons": Curve((_moon(True), _moon(False)), noise=0.2, spaced="closed"),
}


# ------------------------------------------------------------------------------------------------ pinwheel

class Pinwheel:
    """FFJORD's pinwheel: features (r, t) ~ N((1, 0), diag(0.3^2, 0.1^2)), five classes; a class-k point is
    2 * R(-a) (r, t) with a = 2 pi k / 5 + 0.25 exp(r) (R a rotation; FFJORD's einsum turns by -a)."""

    radial, tangential, rate, classes = 0.3, 0.1, 0.25, 5
    family = "curve"

    def _points(self, r: np.ndarray, t: np.ndarray, k: np.ndarray) -> np.ndarray:
        a = 2 * math.pi * k / self.classes + self.rate * np.exp(r)
        c, s = np.cos(a), np.sin(a)
        return 2 * np.stack([r * c + t * s, -r * s + t * c], 1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = np.arange(n) % self.classes  # equal classes, as FFJORD's np.repeat
        return self._points(1 + self.radial * rng.standard_normal(n), self.tangential * rng.standard_normal(n), k)

    def log_density(self, x: np.ndarray, grid: int = 1024) -> np.ndarray:
        """Exact up to root finding: p(x) = sum over classes and pre-images (r, t) of N(r) N(t) / |J|, with
        |J| = 4 |1 + 0.25 e^r t|. With x / 2 = rho (cos phi, sin phi) and (r, t) = rho (cos psi, sin psi), a
        pre-image solves g(psi) = phi + a_k(rho cos psi) - psi = 0 (mod 2 pi); its roots are bracketed on a
        grid of psi and refined by Newton steps."""
        x = np.asarray(x, dtype=np.float64)
        if len(x) > 1024:  # [M, grid] work arrays: in parts
            return np.concatenate([self.log_density(part, grid) for part in np.array_split(x, -(-len(x) // 1024))])
        half = x / 2
        rho, phi = np.hypot(half[:, 0], half[:, 1])[:, None], np.arctan2(half[:, 1], half[:, 0])[:, None]
        psi = np.linspace(-math.pi, math.pi, grid + 1)[None, :]  # [1, G+1]
        density = np.zeros(len(half))
        for k in range(self.classes):
            base = phi + 2 * math.pi * k / self.classes

            def g(p, base=base):
                return base + self.rate * np.exp(rho * np.cos(p)) - p

            values = g(psi)  # [M, G+1]: decreases by 2 pi net over the interval, may fold
            m_lo, m_hi = np.floor(values.min() / (2 * math.pi)), np.ceil(values.max() / (2 * math.pi))
            for m in np.arange(m_lo, m_hi + 1):
                level = values - 2 * math.pi * m
                rows, cols = np.nonzero(np.sign(level[:, :-1]) * np.sign(level[:, 1:]) < 0)
                if len(rows) == 0:
                    continue
                lo, hi = psi[0, cols], psi[0, cols + 1]
                f_lo, f_hi = level[rows, cols], level[rows, cols + 1]
                root = lo - f_lo * (hi - lo) / (f_hi - f_lo)
                r_rows = rho[rows, 0]
                for _ in range(3):  # Newton on the bracketed root
                    ex = np.exp(r_rows * np.cos(root))
                    f = base[rows, 0] + self.rate * ex - root - 2 * math.pi * m
                    df = -self.rate * ex * r_rows * np.sin(root) - 1
                    root = np.clip(root - f / df, lo, hi)
                r, t = r_rows * np.cos(root), r_rows * np.sin(root)
                jac = 4 * np.abs(1 + self.rate * np.exp(r) * t)
                p = (np.exp(-0.5 * ((r - 1) / self.radial) ** 2 - 0.5 * (t / self.tangential) ** 2)
                     / (2 * math.pi * self.radial * self.tangential * jac * self.classes))
                np.add.at(density, rows, p)
        return np.log(np.maximum(density, 1e-300))

    def truth(self, seed: int) -> Truth:
        rng = np.random.default_rng(10_000 + seed)
        clean = self._points(1 + self.radial * rng.standard_normal(CLEAN_POINTS), np.zeros(CLEAN_POINTS),
                             np.arange(CLEAN_POINTS) % self.classes)
        return Truth("curve", self.log_density, clean=clean)


# ------------------------------------------------------------------------------------------------ mixtures

@dataclass(frozen=True)
class Mixture:
    """Equal-weight isotropic Gaussians. `balanced`: every mode gets exactly its share of the points (the
    grid's nested loops in gan_toy.py) instead of a random one (FFJORD's 8gaussians)."""

    centres: np.ndarray  # [K, 2]
    std: float
    balanced: bool = False
    family = "mixture"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = np.arange(n) % len(self.centres) if self.balanced else rng.integers(0, len(self.centres), size=n)
        return self.centres[k] + self.std * rng.standard_normal((n, 2))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        d2 = ((np.asarray(x, dtype=np.float64)[:, None, :] - self.centres[None]) ** 2).sum(-1)  # [M, K]
        log_k = -d2 / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return np.logaddexp.reduce(log_k, axis=1) - math.log(len(self.centres))

    def truth(self, seed: int) -> Truth:
        return Truth("mixture", self.log_density, centres=self.centres, std=self.std)


_DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1 / math.sqrt(2), 1 / math.sqrt(2)),
               (1 / math.sqrt(2), -1 / math.sqrt(2)), (-1 / math.sqrt(2), 1 / math.sqrt(2)),
               (-1 / math.sqrt(2), -1 / math.sqrt(2))]
MIXTURES = {
    "8gaussians": Mixture(4 * np.array(_DIRECTIONS) / 1.414, 0.5 / 1.414),
    "25gaussians": Mixture(np.array([(2 * i, 2 * j) for i in range(-2, 3) for j in range(-2, 3)], float) / 2.828,
                           0.05 / 2.828, balanced=True),
}


# ----------------------------------------------------------------------------------------------- the area

class Checkerboard:
    """FFJORD's checkerboard: x1 ~ U[-2, 2), x2 ~ U[0, 1) - 2 B + (floor(x1) mod 2) with B ~ Bernoulli(1/2),
    all times 2: eight 2 x 2 squares of a 4 x 4 board over [-4, 4)^2, uniform density 1/32 on them."""

    side = 2.0
    family = "area"
    squares = np.array([(c, r) for c in range(-2, 2) for r in range(-2, 2) if (c + r) % 2 == 0], float) * 2

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x1 = rng.uniform(size=n) * 4 - 2
        x2 = rng.uniform(size=n) - rng.integers(0, 2, size=n) * 2 + np.floor(x1) % 2
        return np.stack([x1, x2], 1) * 2

    def inside(self, x: np.ndarray) -> np.ndarray:
        """[M, 2] -> [M] bool: the point lies on the support."""
        low = self.squares[None]  # [1, 8, 2]
        return ((x[:, None, :] >= low) & (x[:, None, :] < low + self.side)).all(-1).any(-1)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        area = len(self.squares) * self.side**2
        return np.where(self.inside(np.asarray(x, dtype=np.float64)), -math.log(area), -np.inf)

    def cells(self, per_side: int = 4) -> np.ndarray:
        """The support as cells: each square cut into per_side x per_side cells, [C, 2, 2] (low, high)."""
        step = self.side / per_side
        offsets = np.array([(i, j) for i in range(per_side) for j in range(per_side)], float) * step
        low = (self.squares[:, None, :] + offsets[None]).reshape(-1, 2)
        return np.stack([low, low + step], 1)

    def truth(self, seed: int) -> Truth:
        return Truth("area", self.log_density, cells=self.cells())


SHAPES: dict[str, Curve | Pinwheel | Mixture | Checkerboard] = {
    "spiral": SPIRAL, **MIXTURES, **{k: v for k, v in CURVES.items() if k != "spiral"},
    "pinwheel": Pinwheel(), "checkerboard": Checkerboard(),
}
SUITE = ("8gaussians", "25gaussians", "2spirals", "swissroll", "circles", "rings", "moons", "pinwheel",
         "checkerboard")  # the suite; `spiral` is the seed's own set beside it
