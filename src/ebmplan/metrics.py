"""Sample-quality metrics for point data (docs/protocol.md §2): precision, coverage, grid NLL, MMD."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.spatial import cKDTree
from scipy.special import logsumexp

from .energy.models import EnergyModel


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
        e_val = energy(torch.maximum(torch.minimum(val, high), low)).double().numpy()
        e_test = energy(torch.maximum(torch.minimum(test, high), low)).double().numpy()
    e_grid = e_grid.double().flatten().numpy()

    def mean_nll(log_t: float, e: np.ndarray) -> float:
        t = math.exp(log_t)
        log_z = float(logsumexp(-e_grid / t)) + math.log(cell)
        return float(np.mean(e / t) + log_z)

    fit = minimize_scalar(lambda lt: mean_nll(lt, e_val), bounds=(-12.0, 8.0), method="bounded")
    return {"nll": mean_nll(fit.x, e_test), "nll_uniform": math.log(float((high - low).prod())),
            "temperature": math.exp(fit.x)}


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
