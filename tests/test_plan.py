"""Planning over candidate states: weighted search, the waypoint rule, candidate sources, `plan eval`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import shortest_path

from conftest import main_code
from ebmplan.plan.search.graph import choose_waypoints, edges, goal_costs, path_to, shortest_paths

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


# ----- candidate sources and the end-to-end command, on a tiny agent (conftest: trained once per session) -----


@pytest.fixture
def tiny_agent(maze_agent):
    return maze_agent  # conftest's: trained once per session


@pytest.mark.parametrize("name", ["uniform", "replay", "sgm", "cvae", "ebm", "route"])
def test_each_source_returns_states_of_the_right_shape_inside_the_map(tiny_agent, name):
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source

    run = load_agent(tiny_agent)
    rng = np.random.default_rng(0)
    starts, goals = run.maze.sample_pairs(rng, 3, 0.8)
    source = make_source(name, run, SourceSettings(gen_steps=30, per_call=3))
    cand = source.candidates(starts, goals, 10)
    assert (source.per_episode, source.learns) == (name in ("cvae", "ebm", "route"), name in ("cvae", "ebm"))
    shape = (10, 2) if name in ("uniform", "replay") else (3, 10, 2)
    if name == "sgm":  # sparsification keeps at most the budget
        assert cand.states.ndim == 2 and 1 <= len(cand.states) <= 10 and cand.states.shape[1] == 2
    else:
        assert cand.states.shape == shape
    assert (cand.states >= 0).all() and (cand.states <= run.maze.high).all()


@pytest.mark.parametrize("name", ["cvae", "ebm", "route"])
def test_generated_candidates_never_see_the_walls(tiny_agent, name):
    """The same generator on the same agent, told a wall-free map of the same size, generates the same states:
    nothing in it reads the true walls."""
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source
    from ebmplan.plan.world.maze import Maze

    run, blind = load_agent(tiny_agent), load_agent(tiny_agent)
    blind.maze = Maze(np.zeros_like(run.maze.walls), name="no walls")
    starts, goals = run.maze.sample_pairs(np.random.default_rng(0), 3, 0.8)
    settings = SourceSettings(gen_steps=30, per_call=3)
    found = []
    for r in (run, blind):
        torch.manual_seed(0)
        found.append(make_source(name, r, settings).candidates(starts, goals, 10).states)
    np.testing.assert_array_equal(*found)


@pytest.mark.parametrize("name", ["cvae", "ebm"])
def test_a_fit_saved_as_its_state_dict_loads_into_a_new_source(tiny_agent, name):
    """A learned source's fit is its state dict: loaded into a new source of the same settings (no training), it
    generates what the fitted one does; a source that learns nothing has an empty one."""
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import REGISTRY, make_source

    run, settings = load_agent(tiny_agent), SourceSettings(gen_steps=30, per_call=3)
    fitted = make_source(name, run, settings)
    loaded = REGISTRY[name](run, settings)
    loaded.load_state_dict(fitted.state_dict())
    starts, goals = run.maze.sample_pairs(np.random.default_rng(0), 3, 0.8)
    found = []
    for source in (fitted, loaded):
        source.reseed(0)
        found.append(source.candidates(starts, goals, 10).states)
    np.testing.assert_array_equal(*found)
    assert fitted.state_dict() and make_source("route", run, settings).state_dict() == {}


@pytest.mark.e2e
def test_chunked_planning_gives_the_results_of_one_batch(tiny_agent, tmp_path):
    """A tiny memory budget plans the per-episode graphs one episode at a time: same results as all at once."""
    import csv

    def run(out: str, *extra: str) -> list[dict]:
        subprocess.run([sys.executable, "-m", "ebmplan", "plan", "eval", "--agent", str(tiny_agent),
                        "--sources", "uniform,ebm", "--nodes", "8", "--episodes", "3", "--difficulties", "0.3",
                        "0.8", "--max-steps", "30", "--gen-steps", "20", "--no-draw", "--out", str(tmp_path / out),
                        *extra], check=True, capture_output=True)
        keep = ("source", "nodes", "difficulty", "successes", "path_ratio", "edges_per_graph",
                "queries_per_episode", "in_walls_share")
        return [{k: r[k] for k in keep} for r in csv.DictReader((tmp_path / out / "results.csv").open())]

    assert run("whole") == run("chunked", "--max-memory", "1e-9")


def test_settings_this_ebmplan_does_not_know_are_refused_and_sources_parse_two_ways(tmp_path):
    """A config.json holding a setting this ebmplan lacks (a finished ablation's switch, say) is one sentence
    naming it; the comma form of --sources is the same setting as the words."""
    from ebmplan.commands import parse
    from ebmplan.common.errors import ConfigError
    from ebmplan.common.runs import CONFIG_VERSION, saved_config
    from ebmplan.plan.eval.protocol import PlanEvalConfig

    (tmp_path / "config.json").write_text(json.dumps({"kind": "plan-eval", "version": CONFIG_VERSION, "config": {
        "agent": ["a"], "sources": ["uniform", "sgm"], "nodes": [8], "snap": False}}))
    with pytest.raises(ConfigError, match="does not know: snap"):
        saved_config(tmp_path, PlanEvalConfig, "plan-eval")
    found = [parse("plan eval", ["--agent", "a", "--sources", *words]).sources
             for words in (["uniform,sgm"], ["uniform", "sgm"])]
    assert found == [("uniform", "sgm")] * 2


def test_unknown_source_is_a_config_error(tiny_agent):
    out = subprocess.run([sys.executable, "-m", "ebmplan", "plan", "eval", "--agent", str(tiny_agent),
                          "--sources", "astar"], capture_output=True, text=True)
    assert out.returncode == 2 and "astar" in out.stderr and "uniform" in out.stderr


def test_plan_eval_end_to_end_writes_the_table(tiny_agent, tmp_path):
    out = tmp_path / "plan"
    subprocess.run([sys.executable, "-m", "ebmplan", "plan", "eval", "--agent", str(tiny_agent),
                    "--sources", "uniform,ebm", "--nodes", "8", "16", "--episodes", "2",
                    "--difficulties", "0.3", "0.8", "--max-steps", "30", "--gen-steps", "20",
                    "--out", str(out)], check=True, capture_output=True)
    import csv

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {(r["source"], r["nodes"]) for r in rows} == {("policy", "0"), ("uniform", "8"), ("uniform", "16"),
                                                        ("ebm", "8"), ("ebm", "16")}
    assert all(int(r["episodes"]) == 2 and 0 <= float(r["success"]) <= 1 for r in rows)
    assert all(float(r["queries_per_episode"]) > 0 for r in rows if r["source"] != "policy")
    parts = ("generate", "graph", "loop")
    assert all(abs(sum(float(r[f"{p}_seconds_per_episode"]) for p in parts) - float(r["plan_seconds_per_episode"]))
               < 1e-9 for r in rows)
    assert "| uniform | 16 |" in (out / "results.md").read_text()
    for name in ("config.json", "system.json", "success_vs_difficulty.png", "success_vs_nodes.png",
                 "maze_uniform.png", "maze_ebm.png"):
        assert (out / name).is_file()
    headline = json.loads((out / "metrics.json").read_text())  # what a sweep of plan eval tabulates
    hard = [r for r in rows if r["source"] == "ebm" and r["nodes"] == "16" and float(r["difficulty"]) >= 0.7]
    assert headline["success_hard_ebm_16"] == sum(int(r["successes"]) for r in hard) / sum(int(r["episodes"])
                                                                                            for r in hard)
    assert set(headline) >= {"success_hard_policy", "success_hard_uniform_8", "plan_ms_per_episode_ebm_8"}


@pytest.mark.e2e
def test_plan_eval_trains_one_agent_per_seed_then_reuses_it(tmp_path):
    agents = tmp_path / "agents"
    args = [sys.executable, "-m", "ebmplan", "plan", "eval", "--seeds", "3", "--map", "FourRooms", "--resize", "2",
            "--agent-steps", "100", "--agents-dir", str(agents), "--sources", "uniform", "--nodes", "8",
            "--episodes", "2", "--difficulties", "0.5", "--max-steps", "20", "--no-draw"]
    first = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True, check=True)
    model = agents / "FourRooms-x2-seed3" / "model.safetensors"
    assert "training" in first.stdout and model.is_file()
    stamp = model.stat().st_mtime_ns
    second = subprocess.run([*args, "--out", str(tmp_path / "b")], capture_output=True, text=True, check=True)
    assert "reusing" in second.stdout and model.stat().st_mtime_ns == stamp
    import csv

    for run in ("a", "b"):
        rows = list(csv.DictReader((tmp_path / run / "results.csv").open()))
        assert {r["agent_seed"] for r in rows} == {"3"}
    both = subprocess.run([*args[:7], "--agent", str(tmp_path / "x"), "--out", str(tmp_path / "c")],
                          capture_output=True, text=True)
    assert both.returncode == 2 and "not both" in both.stderr


def test_edge_cleanup_drops_a_failed_edge_and_replans():
    from ebmplan.plan.search.planner import EdgeCleanup, Plan

    # Nodes 0 -> 1 -> 3 (cost 2 + 2) and a shortcut 0 -> 2 -> 3 (1 + 1) that turns out not traversable.
    d = np.full((4, 4), INF)
    d[0, 1], d[1, 3], d[0, 2], d[2, 3] = 2.0, 2.0, 1.0, 1.0
    graph = edges(d, 5.0)
    to_goal = np.array([[INF, INF, INF, 1.0]])
    cost = goal_costs(graph, to_goal, 5.0)
    plan = Plan(np.zeros((1, 4, 2)), True, graph, cost, to_goal, 0, 0.0)
    clean = EdgeCleanup(plan, 1, limit=3, max_dist=5.0)
    act = np.array([0])
    for _ in range(3):  # localised at node 0, heading for node 2 three steps in a row
        to_nodes = np.array([[0.5, 2.0, 1.0, INF]])
        nearest = clean.mask(act, to_nodes)
        use, w, _ = choose_waypoints(to_nodes, clean.cost[act], np.array([20.0]), 5.0)
        assert nearest[0] == 0 and use[0] and w[0] == 2
        clean.observe(act, use, w, nearest)
    assert clean.dropped.tolist() == [[0, 0, 2]]
    assert clean.cost[0, 0] == 5.0  # re-planned through node 1
    to_nodes = np.array([[0.5, 2.0, 1.0, INF]])
    clean.mask(act, to_nodes)
    assert to_nodes[0, 2] == INF  # node 2 is no longer a first hop from node 0


def test_replay_graph_middles_lie_on_the_observed_route():
    from ebmplan.plan.sources.replay_graph import ReplayGraph

    # One L-shaped episode along row 0.5 then up column 9.5 of a 10x10 box: the only route bends at (0.5, 9.5).
    leg1 = np.stack([np.full(10, 0.5), np.arange(10) + 0.5], 1)
    leg2 = np.stack([np.arange(1, 10) + 0.5, np.full(9, 9.5)], 1)
    states = np.concatenate([leg1, leg2])
    graph = ReplayGraph({"states": states, "offsets": np.array([0, len(states)])}, np.array([10.0, 10.0]))
    assert len(graph.cell) == 19 and graph.dist[0, 18] == 18
    s, m, g = graph.triples(np.random.default_rng(0), 500)
    on_path = (np.isclose(m[:, 0], 0.5) | np.isclose(m[:, 1], 9.5))
    assert on_path.all()  # never the straight-line shortcut across the empty box
    for x in (s, m, g):
        assert np.isin(graph.cell_ids(x), graph.cell).all()
    off = graph.off_data(np.random.default_rng(0), 100)
    assert not graph.occupied[graph.cell_ids(off)].any()
    np.testing.assert_allclose(graph.snap(np.array([[5.2, 5.0]])), [[5.5, 9.5]])
    # the halfway replay state of the observed route: the bend, 9 cells from either end, not the straight middle
    np.testing.assert_allclose(graph.route_middles(np.array([[0.5, 0.5]]), np.array([[9.5, 9.5]]),
                                                   np.random.default_rng(0)), [[0.5, 9.5]])


def test_the_route_source_takes_the_observed_routes_middles(tiny_agent):
    """`route` learns nothing: its nodes are replay states, each the halfway state of a shortest observed route
    between the ends of a gap, and the recursion stops where the agent trusts every hop, as the generators'."""
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source

    run = load_agent(tiny_agent)
    starts, goals = run.maze.sample_pairs(np.random.default_rng(0), 4, 0.8)
    source = make_source("route", run, SourceSettings())
    cand = source.candidates(starts, goals, 10)
    nodes = cand.states[np.isfinite(cand.states).all(-1)]  # [n, 2] the used rows
    assert len(nodes) and cand.queries > 0
    replay = {tuple(x) for x in source.graph.states}
    assert all(tuple(x) in replay for x in nodes)
    first = source.graph.route_middles(starts, goals, np.random.default_rng(0))  # each episode's first middle
    cell = source.graph.cell_ids
    needed = run.agent.distance(starts, goals) >= source.max_dist
    np.testing.assert_array_equal(cell(cand.states[needed, 0]), cell(first[needed]))


def test_replay_graph_counts_a_repeated_move_once():
    """A move taken many times is as long as one taken once: the observed route between two cells is the
    shortest walk over moves seen at least once, not weighed by how often each was taken."""
    from ebmplan.plan.sources.replay_graph import ReplayGraph

    # Ten episodes back and forth along row 0.5 (cells 0-4), one episode along row 1.5 then down to (0.5, 4.5).
    row0 = np.stack([np.full(5, 0.5), np.arange(5) + 0.5], 1)
    back = np.concatenate([row0, row0[::-1]] * 10)
    detour = np.concatenate([[[0.5, 0.5]], np.stack([np.full(5, 1.5), np.arange(5) + 0.5], 1), [[0.5, 4.5]]])
    states = np.concatenate([back, detour])
    graph = ReplayGraph({"states": states, "offsets": np.array([0, len(back), len(states)])}, np.array([5.0, 5.0]))
    a, b = np.searchsorted(graph.cell, graph.cell_ids(np.array([[0.5, 0.5], [0.5, 4.5]])))
    assert graph.dist[a, b] == pytest.approx(4.0)  # straight along row 0, however often it was walked


@pytest.mark.parametrize("name, what", [("cvae", "cvae subgoal generator"), ("ebm", "ebm subgoal energy")])
def test_a_diverging_generator_stops_with_the_shared_divergence_message(tiny_agent, name, what):
    from ebmplan.common.errors import Divergence
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source

    with pytest.raises(Divergence, match=f"training diverged at step 1: the weights of the {what} are not finite"):
        make_source(name, load_agent(tiny_agent), SourceSettings(gen_steps=30, per_call=3, gen_lr=float("inf")))


def test_capped_budget_stops_where_every_hop_is_trusted(tiny_agent):
    """`--budget cap`: where the agent trusts every start-goal hop no node is generated (the start stands in as
    the one node); otherwise the used rows come first, the rest of an episode's rows are NaN (never connected by
    the planner), and the slots no episode used are dropped. `fill` spends the budget."""
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.search.planner import plan_episodes
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source

    run = load_agent(tiny_agent)
    starts, goals = run.maze.sample_pairs(np.random.default_rng(0), 4, 0.8)
    trusting = make_source("ebm", run, SourceSettings(gen_steps=30, per_call=3, max_dist=1e3))
    cand = trusting.candidates(starts, goals, 10)
    np.testing.assert_array_equal(cand.states, starts[:, None])
    source = make_source("ebm", run, SourceSettings(gen_steps=30, per_call=3))
    cand = source.candidates(starts, goals, 10)
    used = np.isfinite(cand.states).all(-1).sum(-1)  # [B]
    assert cand.states.shape == (4, used.max(), 2) and (used <= 10).all() and cand.used == used.mean()
    for b, k in enumerate(used):  # the used rows come first
        assert np.isfinite(cand.states[b, :k]).all() and np.isnan(cand.states[b, k:]).all()
    one = source.candidates(starts[1:2], goals[1:2], 10).states  # one episode alone: no NaN row
    assert one.shape[0] == 1 and np.isfinite(one).all()
    source.settings = SourceSettings(gen_steps=30, per_call=3, budget="fill")
    assert source.candidates(starts, goals, 10).used == 10
    res = plan_episodes(run, cand, starts, goals, np.zeros((5, 4)), max_dist=5.0, wormhole_at=10.0, max_memory=1.0,
                        shown=0)
    assert res["shown"]["nodes"].shape == (used.max(), 2) and len(res["reached"]) == 4


@pytest.mark.parametrize("args, words", [(["--budget", "some"], "--budget"),
                                         (["--far-at", "0"], "--far-at"),
                                         (["--ebm-off-data", "1"], "--ebm-off-data"),
                                         (["--near-split", "energy"], "--near-split"),
                                         (["--snap"], "--snap")])
def test_bad_generator_settings_are_one_sentence(tiny_agent, args, words, capsys):
    # in process: the unknown source above goes through the CLI
    assert main_code(["plan", "eval", "--agent", str(tiny_agent), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_capped_budget_with_midpoint_starts_stays_within_the_cap(tiny_agent):
    """The ebm's midpoint starts under the cap: the used rows come first, inside the map; the rest are NaN."""
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source

    run = load_agent(tiny_agent)
    starts, goals = run.maze.sample_pairs(np.random.default_rng(0), 3, 0.8)
    source = make_source("ebm", run, SourceSettings(gen_steps=30, per_call=2, max_dist=2.0))
    cand = source.candidates(starts, goals, 6)
    used = np.isfinite(cand.states).all(-1).sum(-1)
    assert cand.states.shape[::2] == (3, 2) and (used <= 6).all() and cand.used == used.mean()
    for b, k in enumerate(used):
        assert np.isfinite(cand.states[b, :k]).all() and np.isnan(cand.states[b, k:]).all()
        assert (cand.states[b, :k] >= 0).all() and (cand.states[b, :k] <= run.maze.high).all()


def test_far_pairs_take_the_lowest_energy_sample(tiny_agent):
    """Where every sample's longer half is beyond `far_at` times the cutoff (the agent's distance cannot judge
    there), the ebm's middle for a pair is its lowest-energy sample, snapped to a replay state; the cvae, which
    has no energy, keeps the sample whose longer half is shortest."""
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.sources.candidates import SourceSettings
    from ebmplan.plan.sources.registry import make_source

    run = load_agent(tiny_agent)
    starts, goals = run.maze.sample_pairs(np.random.default_rng(0), 3, 0.8)
    settings = SourceSettings(gen_steps=30, per_call=4, max_dist=1e-3)  # every pair is far
    for name in ("ebm", "cvae"):
        source = make_source(name, run, settings)
        s, g = source.norm(starts), source.norm(goals)
        torch.manual_seed(0)
        m = source.graph.snap(source.denorm(source.sample(s, g, 4)).reshape(-1, 2))  # [12, 2] replay states
        if name == "ebm":
            score = source.sample_energies(source.norm(m).reshape(3, 4, 2), s, g)  # [3, 4]
        else:
            score = np.maximum(run.agent.distance(np.repeat(starts, 4, 0), m),
                               run.agent.distance(m, np.repeat(goals, 4, 0))).reshape(3, 4)
        torch.manual_seed(0)
        mid, d_am, d_mb, queries = source.generated(starts, goals)
        np.testing.assert_allclose(mid, m.reshape(3, 4, 2)[np.arange(3), score.argmin(1)], atol=1e-6)
        assert queries == 2 * 4 * 3 and np.isin(source.graph.cell_ids(mid), source.graph.cell).all()
