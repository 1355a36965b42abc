"""Search over candidate states with the agent's distance: SORB's graph and its closed-loop waypoint rule.

Nodes are candidate states; an edge i -> j exists where the agent's (pessimistic) distance from i to j is
below `max_dist`, weighted by that distance. Shortest paths are by weight (Dijkstra), not by hop count.
The start and the goal join the graph through their own distances to the nodes: at every step the planner
measures the current state's distance to the nearby nodes and picks the waypoint w minimising
`d(s, w) + cost(w -> goal)`, where `cost(w -> goal)` is the graph path from w to a node w' plus `d(w', goal)`
(both ends under the cutoff). SORB's rule: head for that waypoint while going through it is shorter than
going straight (`d(s, w) + cost < d(s, goal)`), or while the goal lies beyond the cutoff; else head for the goal.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


def edges(dist: np.ndarray, max_dist: float) -> csr_matrix:
    """[N, N] distances (entry (i, j) from i to j, inf where unknown) -> a sparse directed graph with the
    edges whose distance is below `max_dist`, weighted by it (no self loops)."""
    d = np.asarray(dist, dtype=np.float64)
    keep = (d < max_dist) & ~np.eye(len(d), dtype=bool)
    i, j = np.nonzero(keep)
    # A zero weight would read as "no edge" in a sparse matrix: floor it at a tiny positive cost.
    return csr_matrix((np.maximum(d[i, j], 1e-6), (i, j)), shape=d.shape)


def shortest_paths(graph: csr_matrix, indices=None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted shortest paths -> (costs [N, N] or [k, N], predecessors of the same shape, -9999 = none)."""
    return dijkstra(graph, directed=True, indices=indices, return_predecessors=True)


def path_to(predecessors: np.ndarray, source: int, target: int) -> list[int]:
    """The node sequence source -> target from `shortest_paths(..., indices=None)` predecessors ([] if none)."""
    if source == target:
        return [source]
    out = [target]
    while out[-1] != source:
        prev = predecessors[source, out[-1]]
        if prev < 0:
            return []
        out.append(int(prev))
    return out[::-1]


def goal_costs(graphs: csr_matrix | list[csr_matrix], to_goal: np.ndarray, max_dist: float) -> np.ndarray:
    """Cost from every node to the goal through the graph, [B, N].

    `graphs`: the node graph (shared) or one per episode; `to_goal` [B, N]: each node's distance to the
    episode's goal. The goal joins as node N with edges w -> goal where that distance is under the cutoff,
    and one Dijkstra on the reversed graph from the goal gives every node's cost (inf where no path).
    """
    B, N = to_goal.shape
    out = np.full((B, N), np.inf)
    for b in range(B):
        graph = graphs if isinstance(graphs, csr_matrix) else graphs[b]
        last = np.flatnonzero(to_goal[b] < max_dist)  # nodes that can step to the goal
        if len(last) == 0:
            continue
        coo = graph.tocoo()
        # reversed edges: goal -> w for the last hops, and j -> i for every node edge i -> j
        rows = np.r_[coo.col, np.full(len(last), N)]
        cols = np.r_[coo.row, last]
        weights = np.r_[coo.data, np.maximum(to_goal[b, last], 1e-6)]
        reverse = csr_matrix((weights, (rows, cols)), shape=(N + 1, N + 1))
        out[b] = dijkstra(reverse, directed=True, indices=N)[:N]
    return out


def choose_waypoints(to_nodes: np.ndarray, goal_cost: np.ndarray, direct: np.ndarray,
                     max_dist: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORB's closed-loop rule for B states at once.

    to_nodes [B, N]: distance from each state to each node (inf where not measured); goal_cost [B, N]: each
    node's graph cost to the goal; direct [B]: distance from each state straight to its goal.
    Returns (use_waypoint [B] bool, waypoint [B] node index, planned cost [B]).
    """
    first = np.where(to_nodes < max_dist, to_nodes, np.inf)  # only nodes the state can reach as a first hop
    via = first + goal_cost  # [B, N]
    waypoint = via.argmin(1) if via.shape[1] else np.zeros(len(via), dtype=np.int64)
    planned = via[np.arange(len(via)), waypoint] if via.shape[1] else np.full(len(via), np.inf)
    use = np.isfinite(planned) & ((planned < direct) | (direct > max_dist))
    return use, waypoint, planned
