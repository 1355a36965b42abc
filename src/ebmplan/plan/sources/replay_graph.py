"""The agent's exploration episodes stitched into one graph of observed moves between the grid cells it visited
(`ReplayGraph`): the generators' training triples (start, middle, goal) and the observed route's middles.

A triple's (start, goal) are two visited cells (half the goals anywhere, half within a log-uniform radius), and
the middle lies on the shortest observed route between them at a Beta(3, 3) fraction of its length. Every state
is a real replay state of its cell. The ground-truth walls are never used; the `ebm` also takes negatives from
the cells no replay state visited (`ReplayGraph.off_data`).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree


class ReplayGraph:
    """The exploration data stitched into one graph. Nodes: the 1x1 grid cells that hold a replay state; edges:
    the cell-to-cell moves observed inside an episode (both ways: the point moves are reversible), weighted by
    the distance between the cells' centres. `dist` [N, N] is the shortest observed route between cells."""

    def __init__(self, traj: dict[str, np.ndarray], high: np.ndarray):
        states, offsets = traj["states"].astype(np.float64), traj["offsets"]
        self.states = states
        self.shape = np.ceil(high).astype(np.int64)
        flat = self.cell_ids(states)
        self.cell, node = np.unique(flat, return_inverse=True)  # [N] occupied cell ids, [S] node of each state
        self.occupied = np.zeros(int(self.shape.prod()), bool)
        self.occupied[self.cell] = True
        self.members = np.argsort(node, kind="stable")  # replay states grouped by node
        self.start = np.searchsorted(node[self.members], np.arange(len(self.cell) + 1))
        move = np.ones(len(states) - 1, bool)
        move[offsets[1:-1] - 1] = False  # no move from an episode's last state to the next episode's first
        a, b = node[:-1][move], node[1:][move]
        a, b = a[a != b], b[a != b]
        # each observed move once: a sparse matrix sums repeated entries, which would weigh a move by how often
        # it was taken and make the "shortest" route the least travelled one
        a, b = np.unique(np.stack([a, b], 1), axis=0).T
        centre = np.stack([self.cell // self.shape[1], self.cell % self.shape[1]], 1) + 0.5  # [N, 2]
        w = np.linalg.norm(centre[a] - centre[b], axis=1)
        graph = csr_matrix((w, (a, b)), shape=(len(self.cell),) * 2)
        self.dist = dijkstra(graph, directed=False).astype(np.float32)  # [N, N] symmetric, inf if unconnected
        self.longest = float(self.dist[np.isfinite(self.dist)].max())

    def cell_ids(self, states: np.ndarray) -> np.ndarray:
        c = np.clip(np.floor(states).astype(np.int64), 0, self.shape - 1)
        return c[:, 0] * self.shape[1] + c[:, 1]

    def state_of(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random replay state of each node's cell, [n, 2]."""
        count = self.start[nodes + 1] - self.start[nodes]
        return self.states[self.members[self.start[nodes] + (rng.random(len(nodes)) * count).astype(np.int64)]]

    def off_data(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """[n, 2] uniform states in cells that no replay state visited (walls, as far as the data tells)."""
        out = np.empty((0, 2))
        while len(out) < n:
            x = rng.random((2 * n, 2)) * self.shape
            out = np.concatenate([out, x[~self.occupied[self.cell_ids(x)]]])
        return out[:n]

    def triples(self, rng: np.random.Generator, n: int, chunk: int = 2048) -> tuple[np.ndarray, ...]:
        """n (start, middle, goal) [n, 2] each: the goal anywhere or within a log-uniform radius, the middle on
        a shortest observed route between them at a Beta(3, 3) fraction of its length (ties broken at random)."""
        N = len(self.cell)
        out = []
        for lo in range(0, n, chunk):
            b = min(chunk, n - lo)
            s = rng.integers(N, size=b)
            # half the goals uniform over all cells (long routes, around walls), half uniform within a
            # log-uniform radius (every scale of the recursion, down to pairs a few steps apart)
            radius = np.exp(rng.uniform(np.log(2.0), np.log(self.longest), b)).astype(np.float32)
            radius[rng.random(b) < 0.5] = np.inf
            g = (rng.random((b, N), dtype=np.float32) * (self.dist[s] <= radius[:, None])).argmax(1)
            m, g = self.on_route(s, g, rng.beta(3, 3, b), rng)
            out.append((self.state_of(s, rng), self.state_of(m, rng), self.state_of(g, rng)))
        return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))

    def on_route(self, s: np.ndarray, g: np.ndarray, frac: np.ndarray | float,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For node pairs (s[i], g[i]) [c]: the node on a shortest observed route at the fraction frac[i] of its
        length (ties broken at random with `rng`, else the first), and the goals, where a pair that no observed
        route joins becomes (s[i], s[i]), its middle the start's own cell. -> ([c] middles, [c] goals)"""
        g = np.where(np.isfinite(self.dist[s, g]), g, s)
        from_s, total = self.dist[s], self.dist[s, g][:, None]  # [c, N], [c, 1]
        on_route = from_s + self.dist[g] <= total + 1e-3  # symmetric: dist[g] = dist[:, g].T
        score = np.abs(from_s - np.reshape(frac, (-1, 1)) * total)
        if rng is not None:
            score = score + rng.random(score.shape, dtype=np.float32) * 1e-3
        return np.where(on_route, score, np.inf).argmin(1), g

    def route_middles(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator, chunk: int = 1024) -> np.ndarray:
        """A replay state halfway along a shortest observed route between the cells of a[i] and b[i] ([n, 2]
        each, snapped to the nearest replay state first) -> [n, 2]."""
        node_a = np.searchsorted(self.cell, self.cell_ids(self.snap(a)))
        node_b = np.searchsorted(self.cell, self.cell_ids(self.snap(b)))
        mid = np.empty(len(a), dtype=np.int64)
        for lo in range(0, len(a), chunk):
            mid[lo:lo + chunk] = self.on_route(node_a[lo:lo + chunk], node_b[lo:lo + chunk], 0.5)[0]
        return self.state_of(mid, rng)

    def snap(self, states: np.ndarray) -> np.ndarray:
        """Each state [n, 2] moved to the nearest replay state."""
        tree = getattr(self, "_tree", None) or cKDTree(self.states)
        self._tree = tree
        return self.states[tree.query(states)[1]]
