"""Sample-quality metrics for point data (docs/protocol.md §2).

Every family of data has its own measure of where samples land: precision and coverage against a clean curve,
the share of samples near a mode and the modes covered for a mixture, the share in the support and of its cells
hit for an area. Beside them on every set: held-out NLL by a grid (an energy at a fitted temperature), by a
Gaussian KDE (bandwidth chosen on the validation split) and by the generator itself, and MMD.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.spatial import cKDTree
from scipy.special import logsumexp

from ..energy.models import EnergyModel
from .kde import KDE
from .shapes import Truth


def precision(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean distance from each sample to the nearest reference point (lower is better)."""
    return float(cKDTree(reference.numpy()).query(samples.numpy())[0].mean())


def coverage(samples: torch.Tensor, reference: torch.Tensor, radius: float = 0.1) -> float:
    """Fraction of reference points that have a sample within `radius` (higher is better)."""
    return float(np.isfinite(cKDTree(samples.numpy()).query(reference.numpy(), distance_upper_bound=radius)[0]).mean())


@torch.no_grad()
def grid_energies(energy: EnergyModel, low: torch.Tensor, high: torch.Tensor, resolution: int = 200,
                  chunk: int = 65536) -> tuple[torch.Tensor, float]:
    """Energies on a resolution x resolution grid of cell centres over the 2D box, and one cell's area."""
    axes = [torch.linspace(0, 1, resolution + 1)[:-1] + 0.5 / resolution for _ in range(2)]
    gy, gx = torch.meshgrid(*axes, indexing="ij")
    grid = low + (high - low) * torch.stack([gx, gy], -1).reshape(-1, 2)  # [R*R, 2], row-major in y
    e = torch.cat([energy(part) for part in grid.split(chunk)])
    return e.reshape(resolution, resolution), float((high - low).prod()) / resolution**2


def nll(energy: EnergyModel, val: torch.Tensor, test: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
        resolution: int = 200) -> dict[str, float]:
    """Held-out NLL (nats) of p(x) = exp(-E(x)/T) / Z over the box, Z by summation on a fine grid.

    T is fitted on `val`, the NLL reported on `test`, beside the NLL of the uniform density on the box.
    Only for 2D data (the grid is 2D); test points outside the box have zero density and are clipped in.
    """
    e_grid, cell = grid_energies(energy, low, high, resolution)
    with torch.no_grad():
        e_val = energy(torch.maximum(torch.minimum(val, high), low))
        e_test = energy(torch.maximum(torch.minimum(test, high), low))
    value, temperature = fitted_nll(e_val, e_test, e_grid.flatten(), math.log(cell))
    return {"nll": value, "nll_uniform": math.log(float((high - low).prod())), "temperature": temperature}


def fitted_nll(e_fit: torch.Tensor, e_eval: torch.Tensor, e_cells: torch.Tensor, log_cell: float
               ) -> tuple[float, float]:
    """Mean NLL of the points whose energies are `e_eval` under exp(-E/T) / Z, T fitted to the points of
    `e_fit`; Z sums exp(-E/T) over equal cells of the box (`e_cells`, each of volume exp(log_cell)). Returns
    (NLL, T)."""
    e_fit, e_eval, e_cells = (e.double().flatten().cpu().numpy() for e in (e_fit, e_eval, e_cells))

    def mean_nll(log_t: float, e: np.ndarray) -> float:
        t = math.exp(log_t)
        return float(np.mean(e / t) + logsumexp(-e_cells / t) + log_cell)

    fit = minimize_scalar(lambda lt: mean_nll(lt, e_fit), bounds=(-12.0, 8.0), method="bounded")
    return mean_nll(fit.x, e_eval), math.exp(fit.x)


def mmd(a: torch.Tensor, b: torch.Tensor, n: int = 2000, seed: int = 0) -> float:
    """Biased multi-bandwidth RBF MMD^2 between two point sets (each subsampled to at most n points).

    Bandwidths are 1/8 to 2 times the median pairwise distance of the pooled points.
    """
    g = torch.Generator().manual_seed(seed)
    a = a[torch.randperm(len(a), generator=g)[:n]].double()
    b = b[torch.randperm(len(b), generator=g)[:n]].double()
    pooled = torch.cat([a, b])
    d2 = torch.cdist(pooled, pooled).pow(2)
    median = d2.flatten().median().sqrt().item()
    k = sum(torch.exp(-d2 / (2 * (s * median) ** 2)) for s in (0.125, 0.25, 0.5, 1.0, 2.0))
    na = len(a)
    return float(k[:na, :na].mean() + k[na:, na:].mean() - 2 * k[:na, na:].mean())


def modes(samples: torch.Tensor, centres: np.ndarray, std: float) -> dict[str, float]:
    """A mixture's measures (the mode-collapse measures of the GAN literature, e.g. VEEGAN and PacGAN):
    `high_quality`, the share of samples within 3 std of the nearest mode centre; `modes_covered`, how many
    modes hold at least one such sample; `mode_balance`, the smallest mode's count of them over the mean count
    (1 = every mode equally often, 0 = a mode missed)."""
    distance, nearest = cKDTree(centres).query(samples.double().numpy())
    good = nearest[distance <= 3 * std]
    counts = np.bincount(good, minlength=len(centres))
    return {"high_quality": float(len(good) / len(samples)), "modes_covered": float((counts > 0).sum()),
            "modes": float(len(centres)), "mode_balance": float(counts.min() / max(counts.mean(), 1e-12))}


def support(samples: torch.Tensor, cells: np.ndarray) -> dict[str, float]:
    """An area's measures: `in_support`, the share of samples inside the support (the union of `cells`,
    [C, 2, 2] low and high corners, which tile it); `cells_hit`, the share of the cells holding a sample."""
    x = samples.double().numpy()[:, None, :]  # [N, 1, 2]
    inside = ((x >= cells[None, :, 0]) & (x < cells[None, :, 1])).all(-1)  # [N, C]
    return {"in_support": float(inside.any(1).mean()), "cells_hit": float(inside.any(0).mean())}


def kde_nll(train: torch.Tensor, val: torch.Tensor, test: torch.Tensor) -> dict[str, float]:
    """Held-out NLL (nats) of a Gaussian KDE on `train` whose bandwidth maximises the likelihood of `val`
    (kde.py; pass standardised points), and that bandwidth."""
    kde = KDE(train).fit(val)
    return {"nll_kde": kde.nll(test), "kde_bandwidth": kde.bandwidth}


def family_measures(samples: torch.Tensor, truth: Truth | None) -> dict[str, float]:
    """The measures of a named set's family beside precision and coverage: `modes` for a mixture, `support`
    for an area; nothing more for a curve or a user file."""
    if truth is None or truth.family == "curve":
        return {}
    if truth.family == "mixture":
        return modes(samples, truth.centres, truth.std)
    return support(samples, truth.cells)


def headline(m: dict) -> str:
    """The figures that say how well a run's samples fit its data family, for a title."""
    if "modes_covered" in m:
        return f"high quality {m['high_quality']:.2f}, modes {m['modes_covered']:.0f}/{m['modes']:.0f}"
    if "in_support" in m:
        return f"in support {m['in_support']:.2f}, cells hit {m['cells_hit']:.2f}"
    return f"precision {m['precision']:.3f}, coverage {m['coverage']:.2f}"
