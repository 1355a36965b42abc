"""SORB's planner over an offline dataset: a graph over dataset states, searched with the learned distance, and
the learned policy following its waypoints closed-loop.

Nodes are a random subset of the training dataset's observations (SORB's replay source); an edge i -> j exists
where the calibrated distance (critic.py) is under `max_dist` steps, weighted by it. At `reset` the goal joins
the graph through its distance from every node and one Dijkstra gives each node's cost to the goal; at every
step the policy heads for the waypoint chosen by SORB's rule (plan/search/graph.py, shared with `plan eval`):
the node w minimising d(s, w) + cost(w), while that beats going straight, else the goal itself. Only the dataset
and the learned networks are used: no maze layout and no oracle.
"""

from __future__ import annotations

import time

import numpy as np

from ..plan.search.graph import choose_waypoints, edges, goal_costs
from .critic import Distance
from .policy import GoalPolicy


def dataset_nodes(observations: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` distinct observations [n, 2] drawn uniformly from the dataset's [N, 2] (all of them if fewer)."""
    return observations[rng.choice(len(observations), size=min(n, len(observations)), replace=False)]


class GraphPlanner:
    """`reset(observation, goal)`, then `planner(observation, goal) -> action` per step (evaluation.py's protocol).

    `nodes` [N, 2]; `max_dist`: the edge cutoff in steps. `queries` counts distance evaluations (pairs)."""

    def __init__(self, distance: Distance, policy: GoalPolicy, nodes: np.ndarray, max_dist: float):
        self.distance, self.policy, self.max_dist = distance, policy, max_dist
        self.nodes = np.asarray(nodes, dtype=np.float64)
        t0 = time.perf_counter()
        self.phi, self.psi = distance.reps(self.nodes)  # [N, dim] each
        pair = distance.pair_steps(self.phi, self.psi)  # [N, N] steps from node i to node j
        self.graph = edges(pair, max_dist)
        self.edges = self.graph.nnz
        self.graph_seconds = time.perf_counter() - t0
        self.queries = len(self.nodes) ** 2
        self.cost = np.full(len(self.nodes), np.inf)
        self.waypoints = 0  # steps that headed for a waypoint rather than the goal

    def reset(self, observation: np.ndarray, goal: np.ndarray) -> None:
        _, psi_goal = self.distance.reps(np.asarray(goal)[None])
        to_goal = self.distance.pair_steps(self.phi, psi_goal)[:, 0]  # [N]
        self.cost = goal_costs(self.graph, to_goal[None], self.max_dist)[0]  # [N]
        self.queries += len(self.nodes)

    def __call__(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
        phi_s, _ = self.distance.reps(np.asarray(observation)[None])
        to_nodes = self.distance.pair_steps(phi_s, self.psi)  # [1, N]
        direct = self.distance(observation[None], goal[None])  # [1]
        self.queries += len(self.nodes) + 1
        use, w, _ = choose_waypoints(to_nodes, self.cost[None], direct, self.max_dist)
        target = self.nodes[w[0]] if use[0] else goal
        self.waypoints += int(use[0])
        return self.policy(observation, target)
