"""One planned episode from a clicked start to a clicked goal, by `plan eval`'s own planner: a source's
candidates, SORB's graph over them from the agent's distance alone (`build_plan`), and the closed loop that
follows it step by step (`run_planner`, with SGM's edge cleanup for `sgm`), with the environment noise drawn as
`plan eval` draws it. The route shown is the plan at the start: the first waypoint by SORB's rule, then the
cheapest graph hops to the goal. The ground truth (true distances, walls) only scores the result, after the
clocks stop: the shortest path's length, the wormhole edges, the candidates inside walls.
"""

from __future__ import annotations

import time

import numpy as np

from ..plan.agent.networks import DistanceAgent
from ..plan.agent.run import AgentRun
from ..plan.eval.protocol import episode_noise
from ..plan.search.graph import choose_waypoints
from ..plan.search.planner import Plan, build_plan, near_pairs, run_planner, score_edges
from ..plan.sources.candidates import Source
from .limits import MAX_EDGES_SHOWN


def planned_route(agent: DistanceAgent, plan: Plan, start: np.ndarray, goal: np.ndarray, max_dist: float) -> list[int]:
    """The nodes the plan heads through from `start` [2] (episode 0 of `plan`): [] when it goes straight."""
    nodes, cost, to_goal = plan.nodes[0], plan.to_goal_cost[0], plan.to_goal[0]
    _, near = near_pairs(start[None], nodes, max_dist + 1)
    to_nodes = np.full((1, len(nodes)), np.inf)
    to_nodes[0, near] = agent.distance(np.repeat(start[None], len(near), 0), nodes[near])
    use, first, _ = choose_waypoints(to_nodes, cost[None], agent.distance(start[None], goal[None]), max_dist)
    if not use[0]:
        return []
    route, graph = [int(first[0])], plan.graph(0)
    while len(route) <= len(nodes):
        u = route[-1]
        if to_goal[u] < max_dist and np.isclose(cost[u], max(to_goal[u], 1e-6)):
            break  # the goal is this node's cheapest next hop
        row = graph.getrow(u)
        if row.nnz == 0:
            break
        route.append(int(row.indices[np.argmin(row.data + cost[row.indices])]))
    return route


def plan_one(run: AgentRun, source: Source, start: np.ndarray, goal: np.ndarray, nodes: int, *, max_dist: float,
             max_steps: int, seed: int, cleanup_steps: int, wormhole_at: float) -> dict:
    """Plan and run one episode over `nodes` candidates of `source`, as `plan eval` would with these settings
    (SGM's edge cleanup for `sgm` only); everything the plan page draws and reports."""
    maze, agent = run.maze, run.agent
    starts, goals = maze.check_free(start, "the start"), maze.check_free(goal, "the goal")
    source.reseed(seed)  # the same request plans the same episode
    noise = episode_noise(maze, 1, seed, max_steps)
    cand = source.candidates(starts, goals, nodes)
    plan = build_plan(agent, cand, goals, max_dist)
    t0 = time.perf_counter()
    route = planned_route(agent, plan, starts[0], goals[0], max_dist)
    route_seconds = time.perf_counter() - t0
    res = run_planner(agent, maze, plan, starts, goals, noise, max_dist,
                      cleanup_steps if source.name == "sgm" else 0)
    steps = int(res["steps"][0])
    path = res["paths"][: steps + 1, 0]
    # The ground truth, for the reader only: `plan eval`'s path ratio (steps over the shortest path), wormholes.
    shortest = float(maze.true_distance(starts, goals)[0])
    n_edges, wormholes = score_edges(maze, plan, wormhole_at)
    node_states = plan.nodes[0]
    i, j = plan.graph(0).nonzero()
    pairs = np.unique(np.sort(np.stack([i, j], 1), axis=1), axis=0) if len(i) else np.zeros((0, 2), np.int64)
    return {
        "candidates": node_states.round(3).tolist(),
        "in_walls": maze.blocked(node_states).tolist(),
        "edges": pairs[:MAX_EDGES_SHOWN].tolist(), "edge_count": int(n_edges), "wormholes": int(wormholes),
        "route": route, "waypoints": node_states[route].round(3).tolist(),
        "path": path.round(3).tolist(), "reached": bool(res["reached"][0]), "steps": steps,
        "shortest_path": shortest, "path_ratio": steps / max(shortest, 1.0) if res["reached"][0] else None,
        "queries": int(cand.queries + plan.queries + res["queries"]), "dropped_edges": int(res["dropped_edges"]),
        "milliseconds": {"candidates": 1e3 * cand.seconds, "graph": 1e3 * plan.seconds,
                         "route": 1e3 * route_seconds, "loop": 1e3 * res["seconds"],
                         "total": 1e3 * (cand.seconds + plan.seconds + res["seconds"])},
    }
