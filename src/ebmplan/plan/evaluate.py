"""`ebmplan plan eval`: every candidate source and node budget on the same agent, under docs/protocol.md §3.

For each agent run (one per training seed), the same episodes are drawn for every planner: `episodes`
(start, goal) pairs per difficulty d (true distance / longest shortest path, d ± 0.05), all run as one batch.
Success means within 1 cell of the goal inside `max_steps`. The plain policy (no planner) is the floor.

Each row of `results.csv` is one (agent seed, source, node budget, difficulty): successes with a Wilson 95%
interval; mean path length / true shortest path over successes; the share of "wormhole" graph edges (predicted
under the cutoff while the true distance exceeds `wormhole_factor * max_dist`); distance queries and planning
wall-clock per episode (candidate generation + graph + every step's waypoint choice, each also apart; the
source's one-off training is reported apart, as `fit_seconds`); the share of generated candidates that lie
inside walls. The planner never sees the true map: the true distances and walls score the results (difficulty,
success, path ratio, wormholes, states in walls) after the clocks stop.
"""

from __future__ import annotations

import csv
import fcntl
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from ..errors import ConfigError, choose
from ..files import atomic_path, write_json
from ..runs import prepare_run_dir, resolve_device, resumed_config, system_info
from ..stats import wilson
from .agent import DistanceAgent
from .graph import choose_waypoints, edges, goal_costs, path_to, shortest_paths
from .maze import Maze, PointMazeVec
from .plan_plots import save_figures
from .results_table import results_markdown
from .subgoals import SOURCES, Candidates, Source, SourceSettings, make_source
from .train_agent import AgentRun, MazeTrainConfig, load_agent, rollout, train_agent

ALL_DIFFICULTIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class PlanEvalConfig:
    """Plan over candidate states from each source and node budget; compare with the plain policy."""

    agent: tuple[str, ...] = ()
    """run folder(s) of `ebmplan maze train`; several runs (one per training seed) repeat everything"""
    seeds: tuple[int, ...] = ()
    """instead of --agent: one agent per training seed, trained with `maze train`'s defaults on --map into
    --agents-dir (a complete agent there is reused, an interrupted one resumed)"""
    agents_dir: str = "runs/agents"
    """with --seeds: the folder of the agents, one run per map and seed (MAP-xRESIZE[-thin]-seedK)"""
    map: str | None = None
    """expected map name (checked against the agents' own map; default: whatever the agents used; with
    --seeds: the map to train on, FourRooms when not given)"""
    resize: int = 5
    """with --seeds: the map's scale"""
    thin: bool = False
    """with --seeds: keep the walls one cell thick when scaling (SGM's thin mazes)"""
    agent_steps: int = 30000
    """with --seeds: gradient updates of each agent's training"""
    sources: tuple[str, ...] = SOURCES
    """candidate sources: uniform, replay, sgm, cvae, ebm (comma-separated or several words)"""
    nodes: tuple[int, ...] = (25, 50, 100, 250, 1000)
    """node budgets (candidates per graph)"""
    difficulties: tuple[float, ...] = ALL_DIFFICULTIES
    """difficulty buckets d, each d ± 0.05"""
    episodes: int = 100
    """episodes per difficulty bucket (all buckets run as one batch)"""
    max_steps: int = 300
    """step limit of an episode"""
    max_dist: float = 5.0
    """edge cutoff: an edge exists where the agent's distance is below this (SORB's MaxDist)"""
    wormhole_factor: float = 2.0
    """an edge is a wormhole when its true distance exceeds this times max_dist"""
    seed: int = 12345
    """seed of the episodes, the environment noise and the sources"""
    tau: float = 2.0
    """sgm: two-way consistency threshold (steps)"""
    sgm_pool: int = 1500
    """sgm: replay states considered at most"""
    gen_steps: int = 3000
    """cvae/ebm: training steps on the agent's trajectories"""
    gen_batch: int = 256
    """cvae/ebm: training triples per step"""
    gen_width: int = 128
    """cvae/ebm: hidden units per layer"""
    per_call: int = 4
    """cvae/ebm: samples per (start, goal) pair at each level of the recursion"""
    ebm_negatives: str = "uniform:0.25,mismatched:0.5,hard:0.25"
    """ebm: negatives (uniform, mismatched, hard, perturb; weighted)"""
    ebm_infer_steps: int = 60
    """ebm: gradient-descent steps per generated candidate"""
    cleanup_steps: int = 15
    """sgm: an edge u -> w counts as failed when the agent, localised at node u, heads for waypoint w this many
    steps in a row without getting past it; the edge is dropped from the episode's graph and the route
    re-planned (0: no cleanup)"""
    gen_data: str = "graph"
    """cvae/ebm training triples: `graph` (routes through the stitched replay data, any length) or `episodes`
    (three states of one exploration episode)"""
    ebm_off_data: float = 0.25
    """ebm: share of negatives drawn from cells no replay state visited"""
    snap: bool = False
    """cvae/ebm: move every generated state to the nearest replay state"""
    split: str = "gaps"
    """cvae/ebm recursion: `gaps` splits the segments the agent cannot cross (longest first), `halves` splits
    every segment, breadth first"""
    device: str = "cpu"
    """auto, cpu or cuda: where the agents and the cvae/ebm sources run"""
    threads: int = 0
    """torch threads (0 = leave torch's default)"""
    workers: int = 1
    """processes: with several agent runs, each run goes to its own worker process (at most this many)"""
    out: str | None = None
    """run folder (default: runs/plan-<time>)"""
    overwrite: bool = False
    """replace an existing run folder"""
    resume: str | None = None
    """continue this run folder with its saved settings: the rows of results.csv already written (agent seed,
    source, node budget) are kept, the rest computed"""
    draw: bool = True
    """draw the figures"""
    max_memory: float = 2.0
    """GB for the graphs of the episodes planned together: per-episode node sets (cvae, ebm) are planned in
    chunks of episodes that fit (results do not depend on it)"""

    def __post_init__(self) -> None:
        # `--sources uniform,ebm` and `--sources uniform ebm` are one setting, also when compared with a saved run
        self.sources = tuple(s for item in self.sources for s in item.split(",") if s)
        self.nodes = tuple(self.nodes)

    def validate(self) -> None:
        if not self.agent and not self.seeds:
            raise ConfigError("give the agent run folder(s) (--agent RUN [RUN ...]) or the seeds to train agents "
                              "with (--seeds 0 1 2)")
        if self.agent and self.seeds:
            raise ConfigError("give either --agent (trained agents) or --seeds (agents to train), not both")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds has repeats: {' '.join(map(str, self.seeds))}")
        for s in self.sources:
            choose("candidate source", s, SOURCES)
        if not self.sources:
            raise ConfigError("--sources is empty; choose from: " + ", ".join(SOURCES))
        for n in self.nodes:
            if n < 1:
                raise ConfigError(f"--nodes must be at least 1, got {n}")
        for d in self.difficulties:
            if not 0 < d <= 1:
                raise ConfigError(f"--difficulties must lie in (0, 1], got {d}")
        for name in ("workers", "episodes", "max_steps", "agent_steps", "resize", "gen_steps", "gen_batch",
                     "gen_width", "per_call", "ebm_infer_steps", "sgm_pool"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        choose("--split", self.split, ("gaps", "halves"))
        if self.cleanup_steps < 0:
            raise ConfigError(f"--cleanup-steps must be 0 or more, got {self.cleanup_steps}")
        choose("--gen-data", self.gen_data, ("graph", "episodes"))
        if not 0 <= self.ebm_off_data < 1:
            raise ConfigError(f"--ebm-off-data must lie in [0, 1), got {self.ebm_off_data}")
        for name in ("max_dist", "wormhole_factor", "tau", "max_memory"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")

    def source_settings(self) -> SourceSettings:
        names = {f for f in SourceSettings.__dataclass_fields__}
        return SourceSettings(**{k: v for k, v in asdict(self).items() if k in names})


@dataclass
class Episodes:
    starts: np.ndarray  # [B, 2]
    goals: np.ndarray  # [B, 2]
    bucket: np.ndarray  # [B] index into difficulties


def draw_episodes(maze: Maze, cfg: PlanEvalConfig) -> Episodes:
    rng = np.random.default_rng(cfg.seed)
    parts = [maze.sample_pairs(rng, cfg.episodes, d) for d in cfg.difficulties]
    return Episodes(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                    np.repeat(np.arange(len(cfg.difficulties)), cfg.episodes))


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


def episode_noise(maze: Maze, B: int, cfg: PlanEvalConfig) -> np.ndarray:
    """[max_steps, B]: the environment noise of B episodes, one row per step, the same for every planner (and
    for the plain policy's rollout, which draws it step by step from the same seed)."""
    return PointMazeVec(maze, B, seed=cfg.seed + 1).noise(cfg.max_steps)


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


def build_plan(agent: DistanceAgent, cand: Candidates, goals: np.ndarray, cfg: PlanEvalConfig) -> Plan:
    """The planner's graph(s) for episodes with these goals [B, 2], from the agent's distance alone (timed)."""
    B = len(goals)
    t0 = time.perf_counter()
    reach = cfg.max_dist + 1
    if cand.shared:
        nodes = np.broadcast_to(cand.states, (B, *cand.states.shape))
        d = agent.pairwise_distance(cand.states, cutoff=cfg.max_dist)  # [N, N]
        graphs, queries = edges(d, cfg.max_dist), int(np.isfinite(d).sum())
    else:
        nodes = cand.states
        N = nodes.shape[1]
        close = (np.abs(nodes[:, :, None] - nodes[:, None]).max(-1) <= reach) & ~np.eye(N, dtype=bool)  # [B, N, N]
        b, i, j = np.nonzero(close)
        dist = agent.distance(nodes[b, i], nodes[b, j])
        queries = len(b)
        keep = dist < cfg.max_dist
        b, i, j, dist = b[keep], i[keep], j[keep], dist[keep]
        split = np.searchsorted(b, np.arange(B + 1))
        graphs = []
        for e in range(B):
            rows = slice(split[e], split[e + 1])
            dm = np.full((N, N), np.inf)
            dm[i[rows], j[rows]] = dist[rows]
            graphs.append(edges(dm, cfg.max_dist))
    rb, wb = near_pairs(goals, cand.states, reach)
    to_goal = np.full(nodes.shape[:2], np.inf)
    to_goal[rb, wb] = agent.distance(nodes[rb, wb], goals[rb])
    queries += len(rb)
    cost = goal_costs(graphs, to_goal, cfg.max_dist)
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
def run_planner(agent: DistanceAgent, maze: Maze, plan: Plan, ep: Episodes, noise: np.ndarray, cfg: PlanEvalConfig,
                cleanup: bool = False) -> dict:
    """Closed-loop episodes with the environment noise `noise` [max_steps, B]: every step, re-choose the waypoint
    by SORB's rule (with SGM's edge cleanup when `cleanup`).
    -> reached, steps, paths [T+1, B, 2], queries, waypoint-choice seconds and edges dropped."""
    B = len(ep.starts)
    envs = PointMazeVec(maze, B)
    envs.reset(states=ep.starts, goals=ep.goals)
    reached = np.linalg.norm(ep.starts - ep.goals, axis=1) < 1
    steps = np.where(reached, 0, cfg.max_steps)
    paths, queries, seconds = [ep.starts.copy()], 0, 0.0
    reach = cfg.max_dist + 1
    clean = EdgeCleanup(plan, B, cfg.cleanup_steps, cfg.max_dist) if cleanup and cfg.cleanup_steps else None
    for t in range(cfg.max_steps):
        if reached.all():
            break
        t0 = time.perf_counter()
        act = np.flatnonzero(~reached)
        s = envs.states[act]
        direct = agent.distance(s, ep.goals[act])  # [A]
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
            use, w, _ = choose_waypoints(to_nodes, plan.to_goal_cost[act], direct, cfg.max_dist)
        else:
            nearest = clean.mask(act, to_nodes)
            use, w, _ = choose_waypoints(to_nodes, clean.cost[act], direct, cfg.max_dist)
            clean.observe(act, use, w, nearest)
        target = ep.goals[act].copy()
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
    if cand.shared:
        return B
    n = cand.states.shape[1]
    return max(1, min(B, int(max_memory * 2**30 // (100 * n * n))))


def plan_episodes(run: AgentRun, cand: Candidates, ep: Episodes, noise: np.ndarray, cfg: PlanEvalConfig,
                  cleanup: bool, draw: int | None) -> dict:
    """Graphs and closed loops for all episodes, `episodes_per_chunk` at a time. Every episode has its own
    candidates and noise, so the results do not depend on the chunks, and the peak memory does not grow with
    the number of episodes. `draw`: the episode to keep a drawing of.
    -> reached, steps, queries, seconds (graph, loop), edges, wormholes, dropped edges, drawing."""
    B = len(ep.starts)
    chunk = episodes_per_chunk(cand, B, cfg.max_memory)
    out = {"reached": np.zeros(B, bool), "steps": np.zeros(B, np.int64), "queries": 0, "graph_seconds": 0.0,
           "loop_seconds": 0.0, "edges": 0, "wormholes": 0, "dropped_edges": 0, "drawing": None}
    for lo in range(0, B, chunk):
        rows = slice(lo, min(lo + chunk, B))
        part = Episodes(ep.starts[rows], ep.goals[rows], ep.bucket[rows])
        plan = build_plan(run.agent, cand.of(rows), part.goals, cfg)
        res = run_planner(run.agent, run.maze, plan, part, noise[:, rows], cfg, cleanup)
        out["reached"][rows], out["steps"][rows] = res["reached"], res["steps"]
        out["queries"] += plan.queries + res["queries"]
        out["graph_seconds"] += plan.seconds
        out["loop_seconds"] += res["seconds"]
        out["dropped_edges"] += res["dropped_edges"]
        n_edges, n_worm = score_edges(run.maze, plan, cfg.wormhole_factor * cfg.max_dist)
        out["edges"] += n_edges
        out["wormholes"] += n_worm
        if draw is not None and rows.start <= draw < rows.stop:
            b = draw - rows.start
            steps = int(res["steps"][b])
            out["drawing"] = {"nodes": plan.nodes[b], "graph": plan.graph(b), "path": res["paths"][: steps + 1, b],
                              "start": part.starts[b], "goal": part.goals[b], "steps": steps,
                              "reached": bool(res["reached"][b])}
    return out


def rows_for(label: dict, ep: Episodes, reached: np.ndarray, steps: np.ndarray, maze: Maze,
             cfg: PlanEvalConfig, extra: dict) -> list[dict]:
    true = np.maximum(maze.true_distance(ep.starts, ep.goals), 1.0)
    out = []
    for k, d in enumerate(cfg.difficulties):
        m = ep.bucket == k
        hits = reached[m]
        low, high = wilson(int(hits.sum()), int(m.sum()))
        ratio = float((steps[m][hits] / true[m][hits]).mean()) if hits.any() else float("nan")
        out.append({**label, "difficulty": d, "episodes": int(m.sum()), "successes": int(hits.sum()),
                    "success": float(hits.mean()), "low": low, "high": high, "path_ratio": ratio, **extra})
    return out


FIELDS = ["agent_seed", "source", "nodes", "difficulty", "episodes", "successes", "success", "low", "high",
          "path_ratio", "wormhole_share", "edges_per_graph", "queries_per_episode", "plan_seconds_per_episode",
          "generate_seconds_per_episode", "graph_seconds_per_episode", "loop_seconds_per_episode",
          "in_walls_share", "fit_seconds", "dropped_edges_per_episode"]


def read_results(path: Path, per_group: int) -> dict[tuple, list[dict]]:
    """The complete groups of rows in a results.csv written so far: (agent seed, source, nodes) -> its
    `per_group` rows (one per difficulty), each cell read back to the value it was written from (int, float or
    text). A group cut short is left out."""
    if not path.is_file():
        return {}
    groups: dict[tuple, list[dict]] = {}
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            if None in raw or None in raw.values() or list(raw) != FIELDS:
                continue  # a row cut short by a crash
            row = {k: _value(v) for k, v in raw.items()}
            groups.setdefault((row["agent_seed"], row["source"], row["nodes"]), []).append(row)
    return {key: rows for key, rows in groups.items() if len(rows) == per_group}


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def append_results(path: Path, rows: list[dict]) -> None:
    """Append one group's rows to results.csv in one locked write (worker processes share the file)."""
    with path.open("a", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            csv.DictWriter(f, FIELDS).writerows(rows)
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def evaluate_run(run: AgentRun | str, cfg: PlanEvalConfig, draw: bool, done: dict[tuple, list[dict]] | None = None,
                 results: Path | None = None) -> tuple[list[dict], dict]:
    """The protocol on one agent run -> (results rows, the drawings of each source when `draw`).

    Each (source, node budget)'s rows are appended to `results` as soon as they are measured. `done`: groups of
    rows measured before (a resumed run), kept instead of measured again. A source's candidates of a kept budget
    are still generated (not planned), so its random stream reaches the next budget as in an uninterrupted run;
    a source whose every budget is kept is skipped, unless its last budget's drawing is wanted (`draw`)."""
    done = done or {}

    def record(new_rows: list[dict]) -> None:
        if results is not None:
            append_results(results, new_rows)
    if isinstance(run, str):  # in a worker process
        run = load_agent(run, resolve_device(cfg.device))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
    rows: list[dict] = []
    drawings: dict[str, dict] = {}
    seed = run.config.seed
    maze = run.maze
    maze.distances  # noqa: B018  (ground truth for sampling, before any clock starts)
    ep = draw_episodes(maze, cfg)
    B = len(ep.starts)
    noise = episode_noise(maze, B, cfg)
    shown = int(np.flatnonzero(ep.bucket == ep.bucket.max())[0]) if draw else None  # the hardest bucket's first
    t0 = time.perf_counter()
    if (seed, "policy", 0) in done:
        rows += done[(seed, "policy", 0)]
        print(f"agent seed {seed}: plain policy kept from results.csv", flush=True)
    else:
        reached, steps, _ = rollout(run.agent, maze, ep.starts, ep.goals, cfg.max_steps, cfg.seed + 1)
        new_rows = rows_for({"agent_seed": seed, "source": "policy", "nodes": 0}, ep, reached, steps, maze, cfg,
                            {"wormhole_share": float("nan"), "edges_per_graph": 0,
                             "queries_per_episode": 0.0, "plan_seconds_per_episode": 0.0,
                             "generate_seconds_per_episode": 0.0, "graph_seconds_per_episode": 0.0,
                             "loop_seconds_per_episode": 0.0,
                             "in_walls_share": 0.0, "fit_seconds": 0.0, "dropped_edges_per_episode": 0.0})
        record(new_rows)
        rows += new_rows
        print(f"agent seed {seed}: plain policy done ({time.perf_counter() - t0:.1f} s)", flush=True)
    for name in cfg.sources:
        kept = [(seed, name, n) in done for n in cfg.nodes]
        if all(kept) and not draw:
            for n in cfg.nodes:
                rows += done[(seed, name, n)]
            print(f"agent seed {seed}: {name} kept from results.csv", flush=True)
            continue
        source: Source = make_source(name, run, cfg.source_settings(), cfg.max_dist)
        for i, n in enumerate(cfg.nodes):
            t0 = time.perf_counter()
            redraw = draw and i == len(cfg.nodes) - 1  # the figures draw each source's last budget
            if kept[i] and not redraw:
                rows += done[(seed, name, n)]
                if not all(kept[i:]):  # a later budget is measured: advance the source's stream as it would be
                    source.candidates(ep.starts, ep.goals, n)
                continue
            cand = source.candidates(ep.starts, ep.goals, n)
            res = plan_episodes(run, cand, ep, noise, cfg, cleanup=name == "sgm", draw=shown)
            if draw:
                drawings[name] = {**res["drawing"], "budget": n, "maze": maze}
            if kept[i]:  # planned again only for the figure's drawing; the written rows are kept
                rows += done[(seed, name, n)]
                continue
            in_walls = maze.blocked(cand.states.reshape(-1, 2))  # ground truth, for the table only
            extra = {"wormhole_share": res["wormholes"] / max(res["edges"], 1),
                     "edges_per_graph": res["edges"] / (1 if cand.shared else B),
                     "queries_per_episode": (cand.queries + res["queries"]) / B,
                     "plan_seconds_per_episode": (cand.seconds + res["graph_seconds"] + res["loop_seconds"]) / B,
                     "generate_seconds_per_episode": cand.seconds / B,
                     "graph_seconds_per_episode": res["graph_seconds"] / B,
                     "loop_seconds_per_episode": res["loop_seconds"] / B,
                     "in_walls_share": float(in_walls.mean()),
                     "fit_seconds": source.fit_seconds,
                     "dropped_edges_per_episode": res["dropped_edges"] / B}
            new_rows = rows_for({"agent_seed": seed, "source": name, "nodes": n}, ep, res["reached"],
                                res["steps"], maze, cfg, extra)
            record(new_rows)
            rows += new_rows
            hard = [r for r in new_rows if r["difficulty"] >= 0.7 - 1e-9]
            rate = sum(r["successes"] for r in hard) / max(sum(r["episodes"] for r in hard), 1)
            print(f"agent seed {seed}: {name} {n} nodes: success at d>=0.7 {rate:.2f}, "
                  f"{extra['plan_seconds_per_episode'] * 1e3:.1f} ms and "
                  f"{extra['queries_per_episode']:.0f} queries per episode "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    return rows, drawings


def seed_agent(cfg: PlanEvalConfig, seed: int) -> Path:
    """The agent of one training seed in `cfg.agents_dir`: reused when complete, resumed when interrupted,
    trained with `maze train`'s defaults otherwise."""
    map_name = cfg.map or "FourRooms"
    folder = Path(cfg.agents_dir) / f"{Path(map_name).stem}-x{cfg.resize}{'-thin' if cfg.thin else ''}-seed{seed}"
    if (folder / "model.safetensors").is_file():
        print(f"agent seed {seed}: reusing {folder}", flush=True)
        return folder
    if (folder / "checkpoint.pt").is_file():
        print(f"agent seed {seed}: resuming {folder}", flush=True)
        return train_agent(MazeTrainConfig(resume=str(folder)))
    print(f"agent seed {seed}: training {folder}", flush=True)
    return train_agent(MazeTrainConfig(map=map_name, resize=cfg.resize, thin=cfg.thin, steps=cfg.agent_steps,
                                       seed=seed, device=cfg.device, out=str(folder), overwrite=True))


def evaluate_plans(cfg: PlanEvalConfig, command: str = "plan eval") -> Path:
    """Run the protocol and write config.json, system.json, results.csv (group by group as measured, then once
    more in order), results.md and figures. With `cfg.resume`, continue that run folder with its saved settings,
    keeping the rows results.csv already holds."""
    cfg = resumed_config(cfg, "plan-eval", strict=True)
    cfg.validate()
    device = resolve_device(cfg.device)
    if cfg.resume:
        out = Path(cfg.resume)
    else:
        out = prepare_run_dir(cfg.out, "plan", overwrite=cfg.overwrite)  # before any training: fail fast
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    paths = list(cfg.agent) or [seed_agent(cfg, seed) for seed in cfg.seeds]
    runs = [load_agent(p, device) for p in paths]
    for r in runs:
        if cfg.map is not None and r.config.map != cfg.map:
            raise ConfigError(f"agent {r.path} was trained on map {r.config.map!r}, not --map {cfg.map!r}")
        if r.maze.walls.shape != runs[0].maze.walls.shape or (r.maze.walls != runs[0].maze.walls).any():
            raise ConfigError(f"agents {runs[0].path} and {r.path} were trained on different maps")
    if not cfg.resume:
        write_json(out / "config.json", {"kind": "plan-eval", "command": command, "config": cfg})
    write_json(out / "system.json", system_info(str(device)))
    done = read_results(out / "results.csv", len(cfg.difficulties)) if cfg.resume else {}
    with atomic_path(out / "results.csv") as tmp, tmp.open("w", newline="") as f:  # the kept groups, whole
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        for group in done.values():
            writer.writerows(group)
    rows: list[dict] = []
    drawings: dict[str, dict] = {}
    if cfg.workers > 1 and len(runs) > 1:
        # One process per agent run: the runs are independent, and each keeps its own clock.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(cfg.workers, len(runs)), mp_context=ctx) as pool:
            results = list(pool.map(evaluate_run, [str(r.path) for r in runs], [cfg] * len(runs),
                                    [i == 0 for i in range(len(runs))], [done] * len(runs),
                                    [out / "results.csv"] * len(runs)))
    else:
        results = [evaluate_run(r, cfg, i == 0, done, out / "results.csv") for i, r in enumerate(runs)]
    for run_rows, run_drawings in results:
        rows += run_rows
        drawings.update(run_drawings)
    with atomic_path(out / "results.csv") as tmp, tmp.open("w", newline="") as f:  # every row, in order
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    m = runs[0].maze
    title = (f"Planning on {m.name} ({m.height}x{m.width}), agent seeds "
             f"{', '.join(str(r.config.seed) for r in runs)}")
    (out / "results.md").write_text(results_markdown(rows, cfg, title))
    if cfg.draw:
        save_figures(out, rows, cfg, drawings)
    return out


__all__ = ["PlanEvalConfig", "evaluate_plans", "path_to", "shortest_paths"]
