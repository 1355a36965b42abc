"""Architectural energies: the model's structure, not a contrastive loss, keeps energy low only near data.

Each is an `EnergyModel` (`forward(x) -> [B]`), so landscapes, inference and metrics treat it like any other
energy, but each is fitted by its own method through `fit(x, ...)`, with no negatives:

- `PCAEnergy`: squared reconstruction error onto the top `n_components` principal components (closed-form
  SVD). Low energy is the affine subspace through the data mean; in 2D with one component that is a straight
  line through the data, whatever the data's shape: a linear model cannot bend.
- `KMeansEnergy`: squared distance to the nearest of `n_clusters` centroids (Lloyd's algorithm from a seeded
  k-means++ start). Low energy is a set of points; with enough centroids (64 on the spiral) they trace the
  curve and the landscape is a chain of bowls along it.
- `SparseAutoencoderEnergy`: reconstruction error plus `sparsity` times the L1 norm of the code, trained by
  Adam on exactly that quantity averaged over the data. Decoder atoms have unit norm, so the penalty cannot
  be dodged by shrinking codes and growing the decoder. In 2D, one unit atom per direction reaches any point,
  at an L1 cost of about `sparsity` times its distance from the data mean: the landscape is close to a cone
  centred on the mean, shaped by the data only where the encoder fails off the data (see
  benchmarks/RESULTS.md). Sparse codes earn their keep in higher dimensions, where few atoms span
  little of the space.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

from ..common.errors import ConfigError
from .models import EnergyModel
from .nets import mlp
from .step import GradientStep


class ArchitecturalEnergy(EnergyModel):
    """An energy fitted by `fit(x, ...)`, which returns the objective after each iteration."""

    @abstractmethod
    def fit(self, x: torch.Tensor, *, steps: int = 1000, batch_size: int = 256, lr: float = 1e-3,
            seed: int = 0) -> list[float]: ...


class PCAEnergy(ArchitecturalEnergy):
    """E(x) = ||(x - mean) - P P^T (x - mean)||^2, P [D, k] the top k principal directions."""

    def __init__(self, dim: int, n_components: int = 1):
        super().__init__()
        if not 1 <= n_components <= dim:
            raise ConfigError(f"PCA needs 1 <= n_components <= the data dimension {dim}, got {n_components}")
        self.dim, self.n_components = dim, n_components
        # Parameters (frozen), not buffers, so `.parameters()` finds the device and safetensors saves them.
        self.mean = nn.Parameter(torch.zeros(dim), requires_grad=False)
        self.components = nn.Parameter(torch.eye(dim)[:n_components], requires_grad=False)  # [k, D]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        centred = x - self.mean  # [B, D]
        residual = centred - (centred @ self.components.T) @ self.components  # [B, D]
        return residual.pow(2).sum(-1)  # [B]

    @torch.no_grad()
    def fit(self, x: torch.Tensor, **_) -> list[float]:
        """Closed form: the top right-singular vectors of the centred data. Returns [mean energy on x]."""
        self.mean.copy_(x.mean(0))
        _, _, vh = torch.linalg.svd(x - self.mean, full_matrices=False)  # vh [min(N, D), D]
        self.components.copy_(vh[: self.n_components])
        return [self(x).mean().item()]


class KMeansEnergy(ArchitecturalEnergy):
    """E(x) = min_j ||x - c_j||^2 over `n_clusters` centroids c [K, D]."""

    def __init__(self, dim: int, n_clusters: int = 64):
        super().__init__()
        if n_clusters < 1:
            raise ConfigError(f"k-means needs n_clusters >= 1, got {n_clusters}")
        self.dim, self.n_clusters = dim, n_clusters
        self.centroids = nn.Parameter(torch.zeros(n_clusters, dim), requires_grad=False)  # [K, D]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return _sq_dist(x, self.centroids).min(1).values  # [B]

    @torch.no_grad()
    def fit(self, x: torch.Tensor, *, steps: int = 300, seed: int = 0, **_) -> list[float]:
        """Lloyd's algorithm from a seeded k-means++ start, for at most `steps` iterations or until no point
        changes cluster. Returns the inertia (mean squared distance to the nearest centroid) of each step."""
        if len(x) < self.n_clusters:
            raise ConfigError(f"k-means with {self.n_clusters} clusters needs at least as many points, "
                              f"got {len(x)}")
        g = torch.Generator(device=x.device).manual_seed(seed)
        c = kmeans_plus_plus(x, self.n_clusters, g)  # [K, D]
        history, assign = [], None
        for _ in range(steps):
            d2 = _sq_dist(x, c)  # [N, K]
            new = d2.argmin(1)  # [N]
            history.append(d2.gather(1, new[:, None]).mean().item())
            if assign is not None and torch.equal(new, assign):
                break
            assign = new
            counts = torch.bincount(assign, minlength=self.n_clusters).to(x.dtype)  # [K]
            sums = torch.zeros_like(c).index_add_(0, assign, x)  # [K, D]
            # An emptied cluster keeps its centroid (rare after k-means++; it is re-used if points return).
            c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], c)
        self.centroids.copy_(c)
        return history


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: each new centroid is a data point drawn with probability ∝ squared distance to the
    nearest centroid chosen so far. x [N, D] -> [k, D]."""
    first = torch.randint(len(x), (1,), generator=generator, device=x.device)
    centroids = [x[first]]
    nearest = _sq_dist(x, centroids[0]).squeeze(1)  # [N]
    for _ in range(1, k):
        weights = nearest if nearest.sum() > 0 else torch.ones_like(nearest)
        pick = torch.multinomial(weights, 1, generator=generator)
        centroids.append(x[pick])
        nearest = torch.minimum(nearest, _sq_dist(x, x[pick]).squeeze(1))
    return torch.cat(centroids)


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances: a [N, D], b [K, D] -> [N, K] (exact differences, no expansion trick)."""
    return (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)


class SparseAutoencoderEnergy(ArchitecturalEnergy):
    """E(x) = ||x - decode(z)||^2 + sparsity * ||z||_1 with z = encode(x) >= 0.

    encode: MLP (`depth` hidden layers of `width` SiLU units) -> `code_dim` ReLU units, applied to x - mean;
    decode: mean + W z with the columns (atoms) of W [D, code_dim] normalised to unit length.
    The energy is the training objective evaluated at one point: fitting lowers it on the data, and the
    L1 price of every active atom keeps it from being low everywhere.
    """

    def __init__(self, dim: int, code_dim: int = 64, sparsity: float = 0.1, width: int = 128, depth: int = 2):
        super().__init__()
        if code_dim < 1 or width < 1 or depth < 0 or not sparsity >= 0:
            raise ConfigError(f"a sparse autoencoder needs code_dim, width >= 1, depth >= 0, sparsity >= 0 "
                              f"(got code_dim={code_dim}, width={width}, depth={depth}, sparsity={sparsity})")
        self.dim, self.code_dim, self.sparsity = dim, code_dim, sparsity
        self.mean = nn.Parameter(torch.zeros(dim), requires_grad=False)
        self.encoder = mlp(dim, code_dim, width=width, depth=depth, activation="silu", out_activation="relu")
        self.atoms = nn.Parameter(torch.randn(dim, code_dim))  # [D, K], normalised when used

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x - self.mean)  # [B, K], non-negative

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        atoms = self.atoms / self.atoms.norm(dim=0, keepdim=True).clamp_min(1e-8)  # [D, K] unit columns
        return self.mean + z @ atoms.T  # [B, D]

    def reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.decode(self.encode(x))).pow(2).sum(-1)  # [B]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        z = self.encode(x)  # [B, K]
        return (x - self.decode(z)).pow(2).sum(-1) + self.sparsity * z.sum(-1)  # [B] (z >= 0, so sum = L1)

    def fit(self, x: torch.Tensor, *, steps: int = 3000, batch_size: int = 256, lr: float = 1e-3,
            seed: int = 0) -> list[float]:
        """Adam on the mean energy of minibatches of x (reconstruction + L1); returns every step's loss."""
        with torch.no_grad():
            self.mean.copy_(x.mean(0))
        g = torch.Generator(device=x.device).manual_seed(seed)
        optimizer = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=lr)
        update = GradientStep(self, optimizer, what="sparse autoencoder")
        history = []
        for step in range(1, steps + 1):
            batch = x[torch.randint(len(x), (batch_size,), generator=g, device=x.device)]  # [B, D]
            loss = self(batch).mean()
            update(loss, step)
            history.append(loss.item())
        return history


METHODS = ("contrastive", "pca", "kmeans", "sparse-ae")
