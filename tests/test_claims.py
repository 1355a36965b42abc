"""The README's headline claims, guarded (`make test-all`; the `slow` marker keeps them out of `make test`).

Each test runs the real `ebmplan` command with real training on reported seed 1 and fails when a claim
regresses. Every assertion is a bound on one measured figure of ours (a success, a precision, a speed-up), never
that one method stays behind another: a test must not fail because the flagship method got better. The planning
budgets and thresholds were chosen on tuning seeds (0 and 100-102) only; the spiral's thresholds are issue #16's
own bars; the figures each threshold was set against are in the comments. Run them with
`OMP_NUM_THREADS=1 .venv/bin/python -m pytest -m slow tests/test_claims.py -q --durations=0`: ~3 min on a quiet
2-core machine (the agent's training, ~70 s, is one module fixture shared by the planning tests), ~10 min when
the cores are shared with other jobs.
"""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

SEED = "1"  # a reported seed: it tuned nothing

# The planning claims at difficulty >= 0.7, on the same 50 episodes per bucket for every planner.
HARD = (0.7, 0.8, 0.9, 1.0)
EPISODES = 50
PLAN = ["--difficulties", *map(str, HARD), "--episodes", str(EPISODES), "--no-draw"]
# The agent's budget: the smallest tried that gave a working distance on every tuning seed tried. SORB's success
# at d >= 0.7 with this file's `reordered` command (for 15,000 and 17,500: 25 episodes per bucket, 1000 nodes
# drawn first):
#   15,000 updates: 0.74 on seed 0, 0.02 on seed 100;  17,500: 0.20 on seed 100;
#   20,000: 1.00, 1.00, 1.00 but 0.53 on seeds 0, 100, 101, 102 (policy 0.03-0.04);
#   25,000: 0.99-1.00 on seeds 0, 100, 101, 102 (policy 0.02-0.04): the budget used (the default is 30,000).
# Training takes ~85 s of one core on a quiet machine, ~3-6 min when the 2 cores are shared.
AGENT_STEPS = "25000"


def read_rows(run: Path) -> list[dict]:
    with (run / "results.csv").open() as f:
        return list(csv.DictReader(f))


def hard_success(rows: list[dict], source: str, nodes: int) -> float:
    """Success pooled over the buckets d >= 0.7 of one (source, node budget)."""
    mine = [r for r in rows if r["source"] == source and int(r["nodes"]) == nodes
            and float(r["difficulty"]) >= 0.7 - 1e-9]
    assert mine, f"no rows for {source} with {nodes} nodes"
    return sum(int(r["successes"]) for r in mine) / sum(int(r["episodes"]) for r in mine)


def most_nodes_used(rows: list[dict], source: str) -> float:
    """The most nodes per episode a (capped) source used in any of its rows."""
    return max(float(r["nodes_used_per_episode"]) for r in rows if r["source"] == source)


def untimed(row: dict) -> dict:
    """A results row without its wall-clock columns: what two runs of the same planner must share."""
    return {k: v for k, v in row.items() if "seconds" not in k}


def test_the_default_spiral_run_is_precise_and_covers_the_curve(tmp_path):
    # README: precision 0.006-0.008 and coverage 0.983-0.996 on reported seeds 1-3, held-out NLL 0.02-0.03 nats
    # from the generator's own density (docs/results/spiral.md). Seed 1 measured 0.0073, 0.983 and a gap of 0.034
    # (NLL 0.832, generator 0.798). The thresholds are issue #16's bar for the default run, "at least as good as
    # today" (precision 0.012, coverage 0.97), and its suite bound on the NLL (within 0.1 nats of the generator).
    done = run_cli("spiral", "--seed", SEED, "--out", str(tmp_path / "spiral"), timeout=900)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "spiral" / "metrics.json").read_text())
    assert metrics["precision"] <= 0.012, metrics
    assert metrics["coverage"] >= 0.97, metrics
    assert metrics["nll"] - metrics["nll_generator"] <= 0.1, metrics


def test_ebmplan_beats_torchebm_at_its_best_on_the_spiral():
    # README / docs/results/performance.md: against TorchEBM at its best settings (chosen on tuning seed 0), each
    # library sampled by its own sampler, 25 s of one thread's CPU time each. Seed 1 measured: precision 0.0077
    # against 0.0435, coverage 0.982 against 0.977, and TorchEBM's final quality reached 6.2x sooner (4.5-12x
    # within the check times; 2.1x on seed 2). The bounds are on ebmplan's own figures, set from TorchEBM-best's
    # measured ones (a third of its precision, its coverage less 0.02), and on the measured speed-up: a better
    # ebmplan can only pass them. Needs the bench extra (TorchEBM); ~2 min of one core.
    pytest.importorskip("torchebm")
    import sys
    import time

    import torch

    from ebmplan.points.toy2d import load_data

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import vs_torchebm as vs

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CPU-time clock counts one thread's work
    try:
        data, cpu, seed = load_data("spiral", seed=int(SEED)), torch.device("cpu"), int(SEED)
        best = dict(step_size=0.1, noise_scale=0.1, l2=0.001, persistent=False)  # vs_torchebm.py --section tune

        def run(recipe):
            return vs.train_for(recipe, 25.0, vs.CHECKS, 300, 1000, seed, lambda: None, time.process_time)

        ours = run(vs.EbmplanRecipe(data, seed, cpu))
        theirs = run(vs.TorchEBMRecipe(data, seed, cpu, name="TorchEBM best", **best))
    finally:
        torch.set_num_threads(threads)
    assert ours["precision"] <= 0.0145, (ours["precision"], theirs["precision"])  # TorchEBM-best 0.0435 / 3
    assert ours["coverage"] >= 0.957, (ours["coverage"], theirs["coverage"])  # TorchEBM-best 0.977 - 0.02
    target = theirs["curve"][-1]
    mine = vs.first_reached(ours["curve"], target, "curve")
    assert mine is not None, ours["curve"]
    assert vs.first_reached(theirs["curve"], target, "curve")[1] / mine[1] >= 3, (ours["curve"], theirs["curve"])


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> Path:
    """A FourRooms x5 agent of seed 1, trained once for the module with the reduced budget."""
    out = tmp_path_factory.mktemp("claims") / "agent"
    done = run_cli("maze", "train", "--map", "FourRooms", "--steps", AGENT_STEPS, "--seed", SEED, "--out", str(out),
                   timeout=1800)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def planned(agent, tmp_path_factory) -> tuple[list[dict], list[tuple]]:
    """`ebmplan plan eval --sources uniform,ebm --nodes 50` on the agent, run in-process through the CLI's entry
    point with spies on where episodes are consumed: the plain policy's rollout, every source's candidate
    generation and every planner's closed loop each record the (starts, goals) they were given (and the closed
    loops their environment noise). -> (results rows, [(what, starts, goals, noise or None)])."""
    from ebmplan.cli import main
    from ebmplan.plan.eval import run as plan_eval

    seen: list[tuple] = []

    def spy(original, what):
        signature = inspect.signature(original)

        def wrapper(*args, **kwargs):
            given = signature.bind(*args, **kwargs).arguments
            if "ep" in given:  # a planner's closed loops
                ep = given["ep"]
                seen.append((what, ep.starts.copy(), ep.goals.copy(), np.array(given["noise"])))
            else:
                seen.append((what, np.array(given["starts"]), np.array(given["goals"]), None))
            return original(*args, **kwargs)

        return wrapper

    make_source = plan_eval.make_source

    def spied_source(name, *args, **kwargs):
        source = make_source(name, *args, **kwargs)
        source.candidates = spy(source.candidates, f"{name} candidates")
        return source

    out = tmp_path_factory.mktemp("claims") / "plan"
    with pytest.MonkeyPatch.context() as mp:  # raising: a renamed function fails here, never passes unspied
        mp.setattr(plan_eval, "run_policy", spy(plan_eval.run_policy, "policy"))
        mp.setattr(plan_eval, "make_source", spied_source)
        mp.setattr(plan_eval, "plan_episodes", spy(plan_eval.plan_episodes, "closed loop"))
        # ebm at its default training budget (--gen-steps 3000, ~50 CPU-s): on tuning agents of 20,000 updates,
        # 2000 steps gave 0.39 at d >= 0.7 (seed 0) and 1000 steps 0.06 (seed 100, no better than 50 uniform
        # nodes) against 0.56-0.70 at 3000, so the default is kept.
        code = main(["plan", "eval", "--agent", str(agent), "--sources", "uniform,ebm", "--nodes", "50", *PLAN,
                     "--out", str(out)])
    assert code == 0
    return read_rows(out), seen


@pytest.fixture(scope="module")
def reordered(agent, tmp_path_factory) -> list[dict]:
    """The same protocol with the sources in another order, another source first and a second budget:
    `--sources replay,uniform,route --nodes 50 1000`, through the CLI in a subprocess."""
    out = tmp_path_factory.mktemp("claims") / "plan-reordered"
    done = run_cli("plan", "eval", "--agent", str(agent), "--sources", "replay,uniform,route", "--nodes", "50", "1000",
                   *PLAN, "--out", str(out), timeout=1800)
    assert done.returncode == 0, done.stderr
    return read_rows(out)


def test_sorb_with_1000_uniform_states_succeeds_on_hard_goals(reordered):
    # README: 1000 uniform states lift success at d >= 0.7 from the policy's 0.08 to 1.00 (seeds 1-3, full budget).
    # Measured with this command on the tuning agents of 25,000 updates (seeds 0, 100, 101, 102): SORB 0.99-1.00,
    # policy 0.02-0.04. On seed 1 (this test, twice, identical): SORB 1.00, policy 0.04. The bound is on SORB's
    # figure; the policy's is printed, not bounded (a better agent must not fail this test).
    sorb, policy = hard_success(reordered, "uniform", 1000), hard_success(reordered, "policy", 0)
    assert sorb >= 0.8, (sorb, policy)


def test_the_in_between_generator_comes_near_sorb_with_a_capped_budget(planned):
    # README: the energy model's generated states between start and goal, at most 50 nodes, come close to SORB's
    # 1000 uniform states at d >= 0.7 (FourRooms 0.92 on seeds 1-3, docs/results/planning.md), where 50 uniform
    # states stay at the policy's level. ebm at its budget cap of 50 on its defaults (snapped middles, the observed
    # route's middle for the gaps the agent's distance can judge).
    # Measured with these fixtures on seed 1: ebm 0.90 with 29.8 nodes used (SORB 1.00, 50 uniform states 0.04).
    # On tuning seed 0's FourRooms agent the defaults gave 0.96 and the previous ones 0.81, so the bound (0.15
    # below SORB's measured 1.00) fails a return to them; the nodes used must stay well under the cap.
    # Before the defaults of issue #18, on the tuning agents of 25,000 updates (seeds 0, 100, 101, 102), ebm gave
    # 0.71, 0.70, 0.69, 0.56 and 50 uniform states 0.04, 0.04, 0.02, 0.03 (the policy's own figures).
    rows, _ = planned
    ebm = hard_success(rows, "ebm", 50)
    assert ebm >= 0.85, ebm
    assert most_nodes_used(rows, "ebm") <= 40


def test_the_observed_route_alone_comes_near_sorb_with_a_capped_budget(reordered):
    # README: the `route` source (no model: the halfway replay state of the shortest observed route, gap by gap)
    # comes as near SORB as `ebm` or nearer on every map, seeds 1-3 (docs/results/planning.md): the energy adds
    # nothing measurable over its own training data. That comparison is a measured sentence of the results page,
    # to re-measure when the generator changes; this test bounds the route's own figure. Measured with these
    # fixtures on seed 1: route 0.93 with 29.2 nodes used (ebm 0.90 with 29.8); on tuning seed 0's FourRooms
    # agent the route alone gave 0.963 at cap 50. The bound is the same as ebm's.
    route = hard_success(reordered, "route", 50)
    assert route >= 0.85, route
    assert most_nodes_used(reordered, "route") <= 40


def test_every_planner_gets_the_same_episodes(agent, planned, reordered):
    from ebmplan.plan.agent.run import load_agent
    from ebmplan.plan.eval.protocol import PlanEvalConfig, sample_episodes

    rows, seen = planned
    # The episodes the protocol promises, drawn by the library: 50 per bucket at d ± 0.05.
    maze = load_agent(agent).maze
    expected = sample_episodes(maze, PlanEvalConfig(agent=(str(agent),), difficulties=HARD, episodes=EPISODES))
    d = maze.true_distance(expected.starts, expected.goals) / maze.max_distance
    assert np.all(np.abs(d - np.asarray(HARD)[expected.bucket]) <= 0.05 + 1e-9)
    # Every consumer got exactly those: the policy, both sources' generators, both planners' closed loops
    # (in however many chunks), and the loops one and the same environment noise.
    assert [w for w, *_ in seen if w != "closed loop"] == ["policy", "uniform candidates", "ebm candidates"]
    for what, starts, goals, _ in seen:
        if what != "closed loop":
            np.testing.assert_array_equal(starts, expected.starts, err_msg=what)
            np.testing.assert_array_equal(goals, expected.goals, err_msg=what)
    # The closed loops come planner by planner (uniform, then ebm), each in one or more chunks of episodes.
    B, planners, chunks = len(expected.starts), [], []
    for what, starts, goals, noise in seen:
        if what == "closed loop":
            chunks.append((starts, goals, noise))
            if sum(len(c[0]) for c in chunks) >= B:
                planners.append(chunks)
                chunks = []
    assert not chunks and len(planners) == 2
    for chunks in planners:
        np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), expected.starts)
        np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), expected.goals)
        np.testing.assert_array_equal(np.concatenate([c[2] for c in chunks], axis=1),
                                      np.concatenate([c[2] for c in planners[0]], axis=1))
    # From outside: every row counts the same episodes per bucket, and the planners both runs share (the policy
    # and 50 uniform nodes, drawn first by their source in both) give identical rows although the other run
    # puts another source first and plans another budget too.
    assert {(r["difficulty"], r["episodes"]) for r in rows + reordered} == {(str(d), str(EPISODES)) for d in HARD}
    for source in ("policy", "uniform"):
        mine = [untimed(r) for r in rows if r["source"] == source and int(r["nodes"]) in (0, 50)]
        theirs = [untimed(r) for r in reordered if r["source"] == source and int(r["nodes"]) in (0, 50)]
        assert len(mine) == len(HARD) and mine == theirs, source
