"""The gap recursion that places a per-episode source's nodes (route, cvae, ebm): a middle for every segment of
the route that the agent's distance says it cannot cross (at or above the edge cutoff), longest first, then for
the halves it leaves, until no gap is left (`fill`: then the longest segments, until the budget is spent) or
the budget is spent. Where the middles come from is the source's `bridge`; the observed route's middle
(`observed_middles`) is route's bridge and the generators' for the gaps the agent's distance can judge.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .candidates import Candidates
from .replay_graph import ReplayGraph

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]  # the agent's: [K, 2] x [K, 2] -> [K] steps
# (segment starts [K, 2], ends [K, 2], their lengths [K]) -> (middles [K, 2], d(a, mid) [K], d(mid, b) [K], queries)
Bridge = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, int]]


def observed_middles(graph: ReplayGraph, distance: Distance, rng: np.random.Generator, a: np.ndarray,
                     b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A bridge: the halfway replay state of the shortest observed route between each pair's cells."""
    m = graph.route_middles(a, b, rng)
    return m, distance(a, m), distance(m, b), 2 * len(a)


def split_gaps(starts: np.ndarray, goals: np.ndarray, n: int, distance: Distance, bridge: Bridge,
               max_dist: float, fill: bool) -> tuple[np.ndarray, int]:
    """Up to `n` middles per episode where its route has a gap -> ([B, n, 2] in order of placing, NaN rows where
    the recursion stopped short of `n`, distance queries)."""
    B = len(starts)
    out, count = np.full((B, n, 2), np.nan), np.zeros(B, dtype=np.int64)
    ep, a, b = np.arange(B), starts, goals  # segments: episode [S], ends [S, 2] each
    d = distance(a, b)
    queries = B
    while (count < n).any():
        gap = d >= max_dist
        has_gap = np.bincount(ep[gap], minlength=B) > 0
        eligible = gap | ~has_gap[ep] if fill else gap & (count[ep] < n)
        if not eligible.any():  # `cap`: every hop is trusted (or the cap is spent); the rest stays NaN
            break
        order = np.lexsort((-d, ep))  # by episode, longest first
        order = order[eligible[order]]
        rank = np.arange(len(order)) - np.searchsorted(ep[order], ep[order])  # rank within its episode
        pick = order[rank < (n - count)[ep[order]]]  # [K] segments to split
        mid, d_am, d_mb, spent = bridge(a[pick], b[pick], d[pick])  # [K, 2], [K], [K]
        queries += spent
        e = ep[pick]
        slot = count[e] + np.arange(len(e)) - np.searchsorted(e, e)  # e is sorted
        out[e, slot] = mid
        count += np.bincount(e, minlength=B)
        keep = np.ones(len(ep), bool)
        keep[pick] = False
        ep, a, b = np.r_[ep[keep], e, e], np.r_[a[keep], a[pick], mid], np.r_[b[keep], mid, b[pick]]
        d = np.r_[d[keep], d_am, d_mb]
        order = np.argsort(ep, kind="stable")
        ep, a, b, d = ep[order], a[order], b[order], d[order]
    return out, queries


def gap_candidates(starts: np.ndarray, goals: np.ndarray, n: int, distance: Distance, bridge: Bridge,
                   max_dist: float, fill: bool) -> Candidates:
    """`split_gaps` as a source's candidates (timed): the slots no episode used are dropped (one episode alone
    gets no NaN row), and when no episode needed a node the start stands in as the one node."""
    t0 = time.perf_counter()
    states, queries = split_gaps(starts, goals, n, distance, bridge, max_dist, fill)
    used = int(np.isfinite(states).all(-1).sum(-1).max())
    states = states[:, :used] if used else np.asarray(starts, dtype=np.float64)[:, None].copy()
    return Candidates(states, time.perf_counter() - t0, queries)
