"""Intervals of success rates: per cell (Wilson) and over several agent seeds (a clustered bootstrap)."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of a success rate (scipy's), widened by rounding to always hold the rate."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(0.95, method="wilson")
    p = successes / n
    return min(max(0.0, float(ci.low)), p), max(min(1.0, float(ci.high)), p)


def seed_bootstrap(per_seed: list[tuple[int, int]], draws: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the pooled success rate of several agent seeds, each with (successes, episodes).

    The same episodes are run under every seed, so they are not independent trials: the bootstrap resamples
    the seeds (with replacement), then each chosen seed's episodes (a binomial draw at that seed's rate), and
    takes the 2.5 and 97.5 percentiles of the pooled rate. With one seed it is the plain episode bootstrap.
    """
    k, n = np.array(per_seed, dtype=np.int64).reshape(-1, 2).T  # [S] successes, [S] episodes
    if n.sum() == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(n), size=(draws, len(n)))  # [draws, S] the seeds of each draw
    hits = rng.binomial(n[pick], k[pick] / np.maximum(n[pick], 1))  # [draws, S]
    rate = hits.sum(1) / n[pick].sum(1)
    low, high = np.percentile(rate, [2.5, 97.5])
    return float(low), float(high)
