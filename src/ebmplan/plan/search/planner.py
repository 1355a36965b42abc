"""The planner of `plan eval`: SORB's graph over a source's candidates, built from the agent's distance alone,
and the closed-loop episodes that follow it, step by step (graph.py holds the search and the waypoint rule),
with SGM's cleanup of edges the agent fails to traverse. Episodes with per-episode candidates are planned in
chunks that fit a memory budget; every episode has its own candidates and noise, so chunking changes no result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from ...common.resources import episodes_per_chunk as chunk_episodes
from ..agent.networks import DistanceAgent
from ..agent.run import AgentRun
from ..sources.candidates import Candidates
from ..world.env import PointMazeVec
from ..world.maze import Maze
from .graph import choose_waypoints, edges, goal_costs


def near_pairs(a: np.ndarray, nodes: np.ndarray, reach: float) -> tuple[np.ndarray, ...]:
    """Index pairs (row, node) of the nodes within Chebyshev distance `reach` of a[row]: a step moves at most 1
    per axis, so farther pairs cannot be within `reach - 1` steps and are not queried.

    `nodes` [N, 2] shared by every row (searched with a k-d tree) or [A, N, 2] per row.
    """
    if nodes.ndim == 2:
        hits = cKDTree(nodes).query_ball_point(a, r=reach, p=np.inf)
        rows = np.repeat(np.arange(len(a)), [len(h) for h in hits])
        cols = np.fromiter((j for h in hits for j in h), dtype=np.int64, count=len(rows))
        return rows, cols
    return np.nonzero(np.abs(a[:, None] - nodes).max(-1) <= reach)  # [A, N] -> pairs


@dataclass
class Plan:
    """The graph(s) of one planner over a batch of episodes, and what they cost."""

    nodes: np.ndarray  # [B, N, 2] (a broadcast view of [N, 2] when shared)
    shared: bool  # one node set and graph for every episode
    graphs: csr_matrix | list[csr_matrix]  # the shared graph, or one per episode
    to_goal_cost: np.ndarray  # [B, N]
    to_goal: np.ndarray  # [B, N]: each node's distance to the episode's goal (inf where not measured)
    queries: int
    seconds: float

    def graph(self, b: int) -> csr_matrix:
        return self.graphs if self.shared else self.graphs[b]


def build_plan(agent: DistanceAgent, cand: Candidates, goals: np.ndarray, max_dist: float) -> Plan:
    """The planner's graph(s) for episodes with these goals [B, 2], from the agent's distance alone, its edges
    those under the cutoff `max_dist` (timed)."""
    B = len(goals)
    t0 = time.perf_counter()
    reach = max_dist + 1
    if cand.shared:
        nodes = np.broadcast_to(cand.states, (B, *cand.states.shape))
        d = agent.pairwise_distance(cand.states, cutoff=max_dist)  # [N, N]
        graphs, queries = edges(d, max_dist), int(np.isfinite(d).sum())
    else:
        nodes = cand.states
        N = nodes.shape[1]
        close = (np.abs(nodes[:, :, None] - nodes[:, None]).max(-1) <= reach) & ~np.eye(N, dtype=bool)  # [B, N, N]
        b, i, j = np.nonzero(close)
        dist = agent.distance(nodes[b, i], nodes[b, j])
        queries = len(b)
        keep = dist < max_dist
        b, i, j, dist = b[keep], i[keep], j[keep], dist[keep]
        split = np.searchsorted(b, np.arange(B + 1))
        graphs = []
        for e in range(B):
            rows = slice(split[e], split[e + 1])
            dm = np.full((N, N), np.inf)
            dm[i[rows], j[rows]] = dist[rows]
            graphs.append(edges(dm, max_dist))
    rb, wb = near_pairs(goals, cand.states, reach)
    to_goal = np.full(nodes.shape[:2], np.inf)
    to_goal[rb, wb] = agent.distance(nodes[rb, wb], goals[rb])
    queries += len(rb)
    cost = goal_costs(graphs, to_goal, max_dist)
    return Plan(nodes, cand.shared, graphs, cost, to_goal, queries, time.perf_counter() - t0)


def score_edges(maze: Maze, plan: Plan, far: float) -> tuple[int, int]:
    """(edges, wormhole edges: true distance above `far`) of the plan's graphs. Ground truth: for the table only,
    after the clocks stop."""
    n_edges = n_worm = 0
    for b in range(1 if plan.shared else len(plan.nodes)):
        i, j = plan.graph(b).nonzero()
        n_edges += len(i)
        n_worm += int((maze.true_distance(plan.nodes[b, i], plan.nodes[b, j]) > far).sum())
    return n_edges, n_worm


class EdgeCleanup:
    """SGM's cleanup after failed traversals, per episode. The agent is localised at its nearest node u (by the
    agent's distance); heading for waypoint w is traversing u -> w. When the same waypoint is chosen `limit`
    steps in a row, the edge u -> w is dropped from that episode's graph (and w is no longer a first hop while
    the agent is localised at u), and the episode's costs to the goal are recomputed."""

    def __init__(self, plan: Plan, B: int, limit: int, max_dist: float):
        self.plan, self.limit, self.max_dist = plan, limit, max_dist
        self.graphs: dict[int, object] = {}  # episode -> its own graph once an edge is dropped
        self.cost = plan.to_goal_cost.copy()  # [B, N]
        self.current = np.full(B, -1)  # waypoint being headed for, -1 for none
        self.origin = np.full(B, -1)  # node the agent was localised at when it chose it
        self.since = np.zeros(B, dtype=np.int64)
        self.dropped = np.empty((0, 3), dtype=np.int64)  # rows (episode, u, w)

    def mask(self, act: np.ndarray, to_nodes: np.ndarray) -> np.ndarray:
        """Hide the dropped first hops: w from a state localised at u, for every dropped u -> w. [A] nearest."""
        nearest = to_nodes.argmin(1) if to_nodes.shape[1] else np.zeros(len(act), dtype=np.int64)
        if len(self.dropped):
            row = np.full(len(self.current), -1)
            row[act] = np.arange(len(act))
            e, u, w = self.dropped.T
            hit = (row[e] >= 0) & (nearest[np.maximum(row[e], 0)] == u)
            to_nodes[row[e][hit], w[hit]] = np.inf
        return nearest

    def observe(self, act: np.ndarray, use: np.ndarray, w: np.ndarray, nearest: np.ndarray) -> None:
        cur = np.where(use, w, -1)
        same = (cur == self.current[act]) & (cur >= 0)
        self.since[act] = np.where(same, self.since[act] + 1, 0)
        self.origin[act] = np.where(same, self.origin[act], nearest)
        self.current[act] = cur
        for k in np.flatnonzero(self.since[act] + 1 >= self.limit):  # chosen `limit` steps in a row
            b, u, v = int(act[k]), int(self.origin[act[k]]), int(cur[k])
            self.since[b], self.current[b] = 0, -1
            if u == v:
                continue
            self.dropped = np.vstack([self.dropped, [b, u, v]])
            graph = self.graphs.get(b)
            if graph is None:
                graph = self.plan.graph(b)
            graph = graph.tolil()
            graph[u, v] = 0
            graph = graph.tocsr()
            graph.eliminate_zeros()
            self.graphs[b] = graph
            self.cost[b] = goal_costs(graph, self.plan.to_goal[b:b + 1], self.max_dist)[0]


@torch.no_grad()
def run_planner(agent: DistanceAgent, maze: Maze, plan: Plan, starts: np.ndarray, goals: np.ndarray,
                noise: np.ndarray, max_dist: float, cleanup_steps: int = 0) -> dict:
    """Closed-loop episodes from `starts` to `goals` [B, 2] with the environment noise `noise` [max_steps, B]:
    every step, re-choose the waypoint by SORB's rule (with SGM's edge cleanup after `cleanup_steps` failed
    steps; 0: none). -> reached, steps, paths [T+1, B, 2], queries, waypoint-choice seconds and edges dropped."""
    B, max_steps = len(starts), len(noise)
    envs = PointMazeVec(maze, B)
    envs.reset(states=starts, goals=goals)
    reached = np.linalg.norm(starts - goals, axis=1) < 1
    steps = np.where(reached, 0, max_steps)
    paths, queries, seconds = [starts.copy()], 0, 0.0
    reach = max_dist + 1
    clean = EdgeCleanup(plan, B, cleanup_steps, max_dist) if cleanup_steps else None
    for t in range(max_steps):
        if reached.all():
            break
        t0 = time.perf_counter()
        act = np.flatnonzero(~reached)
        s = envs.states[act]
        direct = agent.distance(s, goals[act])  # [A]
        if plan.shared:
            rb, wb = near_pairs(s, plan.nodes[0], reach)
            to_nodes_states = plan.nodes[0][wb]
        else:
            rb, wb = near_pairs(s, plan.nodes[act], reach)
            to_nodes_states = plan.nodes[act[rb], wb]
        to_nodes = np.full((len(act), plan.nodes.shape[1]), np.inf)
        to_nodes[rb, wb] = agent.distance(s[rb], to_nodes_states)
        queries += len(act) + len(rb)
        if clean is None:
            use, w, _ = choose_waypoints(to_nodes, plan.to_goal_cost[act], direct, max_dist)
        else:
            nearest = clean.mask(act, to_nodes)
            use, w, _ = choose_waypoints(to_nodes, clean.cost[act], direct, max_dist)
            clean.observe(act, use, w, nearest)
        target = goals[act].copy()
        target[use] = plan.nodes[act[use], w[use]]
        seconds += time.perf_counter() - t0
        a = np.zeros((B, 2))
        a[act] = agent.action(s, target)
        before = envs.states.copy()
        states, hit = envs.step(a, noise[t])
        envs.states[reached] = before[reached]  # finished episodes stay where they ended
        new = hit & ~reached
        steps[new] = t + 1
        reached |= hit
        paths.append(envs.states.copy())
    return {"reached": reached, "steps": steps, "paths": np.stack(paths), "queries": queries,
            "seconds": seconds, "dropped_edges": 0 if clean is None else len(clean.dropped)}


def episodes_per_chunk(cand: Candidates, B: int, max_memory: float) -> int:
    """Episodes planned together. A shared node set needs no chunks (one graph serves all); per-episode node
    sets cost ~100 bytes per pair of nodes in each episode's graph building (distances, pairs, the agent's
    batch), so as many episodes as fit in `max_memory` GB."""
    return B if cand.shared else chunk_episodes(cand.states.shape[1], B, max_memory)


def plan_episodes(run: AgentRun, cand: Candidates, starts: np.ndarray, goals: np.ndarray, noise: np.ndarray, *,
                  max_dist: float, cleanup_steps: int = 0, wormhole_at: float, max_memory: float,
                  shown: int | None = None) -> dict:
    """Graphs and closed loops for the episodes from `starts` to `goals` [B, 2] (noise [max_steps, B]),
    `episodes_per_chunk` at a time under `max_memory` GB. Every episode has its own candidates and noise, so the
    results do not depend on the chunks, and the peak memory does not grow with the number of episodes. An edge
    whose true distance exceeds `wormhole_at` counts as a wormhole. `shown`: the episode to keep for a figure
    (its nodes, edges, path, start, goal).
    -> reached, steps, queries, seconds (graph, loop), edges, wormholes, dropped edges, shown episode."""
    B = len(starts)
    chunk = episodes_per_chunk(cand, B, max_memory)
    out = {"reached": np.zeros(B, bool), "steps": np.zeros(B, np.int64), "queries": 0, "graph_seconds": 0.0,
           "loop_seconds": 0.0, "edges": 0, "wormholes": 0, "dropped_edges": 0, "shown": None}
    for lo in range(0, B, chunk):
        rows = slice(lo, min(lo + chunk, B))
        plan = build_plan(run.agent, cand.of(rows), goals[rows], max_dist)
        res = run_planner(run.agent, run.maze, plan, starts[rows], goals[rows], noise[:, rows], max_dist,
                          cleanup_steps)
        out["reached"][rows], out["steps"][rows] = res["reached"], res["steps"]
        out["queries"] += plan.queries + res["queries"]
        out["graph_seconds"] += plan.seconds
        out["loop_seconds"] += res["seconds"]
        out["dropped_edges"] += res["dropped_edges"]
        n_edges, n_worm = score_edges(run.maze, plan, wormhole_at)
        out["edges"] += n_edges
        out["wormholes"] += n_worm
        if shown is not None and rows.start <= shown < rows.stop:
            b = shown - rows.start
            steps = int(res["steps"][b])
            out["shown"] = {"nodes": plan.nodes[b], "edges": plan.graph(b).nonzero(),
                            "path": res["paths"][: steps + 1, b], "start": starts[shown], "goal": goals[shown],
                            "steps": steps, "reached": bool(res["reached"][b])}
    return out
