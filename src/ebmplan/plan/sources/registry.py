"""Candidate states for the planner's graph, from six sources chosen by name (`make_source`).

- `uniform`: uniform free states (SORB's evaluation setting); one set shared by every episode.
- `replay`: states from the agent's own exploration trajectories (SORB); shared.
- `sgm`: replay states sparsified by two-way consistency (SGM): a state is kept only if no kept state is
  interchangeable with it, i.e. differs by at most `sgm_tau` in its distance to and from every pool state;
  shared.
- `route`: no model: the gap recursion (gaps.py), every middle the halfway replay state of the shortest observed
  route through the stitched trajectories (replay_graph.py); per episode.
- `cvae`: a conditional VAE that, given (start, goal), samples states between them, trained on the same
  trajectories (HTM's generative baseline); per episode (generators.py).
- `ebm`: a conditional energy F((start, goal), m), low where m lies between start and goal on a trajectory,
  trained contrastively on the same trajectories; candidates by gradient descent from noise; per episode
  (generators.py).

What they share (candidates, settings, interface) is in candidates.py.
"""

from __future__ import annotations

import time

import numpy as np

from ...common.errors import choose
from ..agent.run import AgentRun
from .candidates import Candidates, Source, SourceSettings, load_trajectories
from .gaps import gap_candidates, observed_middles
from .generators import CVAESource, EBMSource
from .replay_graph import ReplayGraph


class UniformSource(Source):
    name = "uniform"

    def candidates(self, starts, goals, n):
        t0 = time.perf_counter()
        states = self.maze.sample_free(self.rng, n)
        return Candidates(states, time.perf_counter() - t0)


class ReplaySource(Source):
    name = "replay"

    def fit(self):
        self.pool = load_trajectories(self.run)["states"].astype(np.float64)

    def candidates(self, starts, goals, n):
        t0 = time.perf_counter()
        states = self.pool[self.rng.choice(len(self.pool), size=n, replace=n > len(self.pool))]
        return Candidates(states, time.perf_counter() - t0)


class SGMSource(ReplaySource):
    """Replay states kept greedily, in random order, unless two-way consistent with a kept one (SGM)."""

    name = "sgm"

    def candidates(self, starts, goals, n):
        t0 = time.perf_counter()
        s = self.settings
        m = min(max(3 * n, 300), s.sgm_pool, len(self.pool))
        pool = self.pool[self.rng.choice(len(self.pool), size=m, replace=False)]  # [M, 2]
        cap = 2 * self.max_dist  # distances are clipped here: beyond it only "far" matters
        d = self.run.agent.pairwise_distance(pool, cutoff=cap)  # [M, M], inf where skipped
        queries = int(np.isfinite(d).sum())
        d = np.minimum(d, cap)
        kept: list[int] = []
        for i in range(m):
            if len(kept) == n:
                break
            k = np.array(kept, dtype=np.int64)
            # Only kept states within sgm_tau both ways can be interchangeable: d(i,i) = 0 bounds the consistency.
            near = k[(d[i, k] <= s.sgm_tau) & (d[k, i] <= s.sgm_tau)] if len(k) else k
            if len(near):
                out = np.abs(d[i][None] - d[near]).max(1)  # [K]: outgoing distances differ by at most
                inc = np.abs(d[:, i][:, None] - d[:, near]).max(0)  # [K]: incoming
                if (np.maximum(out, inc) <= s.sgm_tau).any():
                    continue
            kept.append(i)
        return Candidates(pool[kept], time.perf_counter() - t0, queries)


class RouteSource(Source):
    """The observed route alone: every gap's middle is the halfway replay state of the shortest observed route
    between the segment's ends (`ReplayGraph`). Nothing is learned: like `sgm`, it uses the agent's replay data
    and distance only, so it is the generators' fair peer and tells what a generated middle adds."""

    name = "route"
    per_episode = True

    def fit(self):
        t0 = time.perf_counter()
        self.graph = ReplayGraph(load_trajectories(self.run), self.maze.high)
        self.fit_seconds = time.perf_counter() - t0

    def bridge(self, a, b, d):
        return observed_middles(self.graph, self.run.agent.distance, self.rng, a, b)

    def candidates(self, starts, goals, n):
        return gap_candidates(starts, goals, n, self.run.agent.distance, self.bridge, self.max_dist,
                              self.settings.budget == "fill")


REGISTRY: dict[str, type[Source]] = {"uniform": UniformSource, "replay": ReplaySource, "sgm": SGMSource,
                                     "cvae": CVAESource, "ebm": EBMSource, "route": RouteSource}
SOURCES = tuple(REGISTRY)


def make_source(name: str, run: AgentRun, settings: SourceSettings) -> Source:
    """A fitted source by name (a ConfigError lists the names)."""
    source = REGISTRY[choose("candidate source", name, REGISTRY)](run, settings)
    source.fit()
    return source
