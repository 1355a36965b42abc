"""Planning over candidate states: weighted search, the waypoint rule, candidate sources, `plan eval`."""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import shortest_path

from ebmplan.plan.graph import choose_waypoints, edges, goal_costs, path_to, shortest_paths

INF = np.inf


def test_weighted_path_differs_from_fewest_hops():
    # 0 -> 3 directly costs 4.5 (one hop); 0 -> 1 -> 2 -> 3 costs 3 (three hops).
    d = np.full((4, 4), INF)
    d[0, 3], d[0, 1], d[1, 2], d[2, 3] = 4.5, 1.0, 1.0, 1.0
    g = edges(d, max_dist=5.0)
    costs, pred = shortest_paths(g)
    assert path_to(pred, 0, 3) == [0, 1, 2, 3]
    assert costs[0, 3] == 3.0
    hops = shortest_path(g, unweighted=True, return_predecessors=True)[1]
    assert path_to(hops, 0, 3) == [0, 3]  # what an unweighted search would take


def test_edges_respect_the_cutoff_and_direction():
    d = np.array([[0.0, 4.0, 6.0], [9.0, 0.0, 2.0], [INF, 1.0, 0.0]])
    g = edges(d, max_dist=5.0).toarray()
    assert g[0, 1] == 4.0 and g[0, 2] == 0 and g[1, 0] == 0 and g[1, 2] == 2.0 and g[2, 1] == 1.0
    assert np.all(np.diag(g) == 0)


def test_waypoint_rule_on_a_hand_built_graph():
    # Nodes 0, 1, 2 on a corridor; the goal is reachable from node 2 only.
    d = np.full((3, 3), INF)
    d[0, 1], d[1, 2] = 3.0, 3.0
    to_goal = np.array([[INF, INF, 2.0]])  # [B=1, N]
    h = goal_costs(edges(d, 5.0), to_goal, 5.0)
    np.testing.assert_allclose(h, [[8.0, 5.0, 2.0]])
    # A state near node 0 whose goal is beyond the cutoff: head for node 0 (the start of the shortest route).
    use, w, planned = choose_waypoints(np.array([[1.0, 4.0, INF]]), h, np.array([20.0]), 5.0)
    assert use[0] and w[0] == 0 and planned[0] == 9.0
    # Via node 1 would be 4 + 5 = 9, via node 0 is 1 + 8 = 9: a tie picks the lower index; now make 1 cheaper.
    use, w, _ = choose_waypoints(np.array([[1.0, 2.0, INF]]), h, np.array([20.0]), 5.0)
    assert use[0] and w[0] == 1
    # The goal within the cutoff and straight is shorter than any route: head for the goal.
    use, _, _ = choose_waypoints(np.array([[1.0, 2.0, INF]]), h, np.array([4.0]), 5.0)
    assert not use[0]
    # Within the cutoff but the detour is shorter (a wall in between, say): keep the waypoint.
    use, w, _ = choose_waypoints(np.array([[INF, INF, 1.0]]), h, np.array([4.5]), 5.0)
    assert use[0] and w[0] == 2
    # No node reachable: head for the goal.
    use, _, _ = choose_waypoints(np.array([[INF, INF, INF]]), h, np.array([20.0]), 5.0)
    assert not use[0]
