"""Candidate states for the planner's graph, from five sources behind one interface (chosen by name).

- `uniform`: uniform free states (SORB's evaluation setting); one set shared by every episode.
- `replay`: states from the agent's own exploration trajectories (SORB); shared.
- `sgm`: replay states sparsified by two-way consistency (SGM): a state is kept only if no kept state is
  interchangeable with it, i.e. differs by at most `tau` in its distance to and from every pool state; shared.
- `cvae`: a conditional VAE that, given (start, goal), samples states between them, trained on the same
  trajectories (HTM's generative baseline); per episode.
- `ebm`: a conditional energy F((start, goal), m), low where m lies between start and goal on a trajectory,
  trained contrastively on the same trajectories; candidates by gradient descent from noise; per episode.

Both generators run recursively (see `Generator`): a middle for (start, goal), then for (start, mid) and
(mid, goal), and so on until the node budget is spent; by default only where the agent's distance says the
route still has a gap. No source knows the walls: every generated state becomes a node, wherever it lies.
The only test of a sample's place is learned or observed: `gaps` prefers, of each call's samples, those in
cells some replay state visited, and the agent's distance decides which of them bridges the gap. (`plan
eval` counts the generated states that lie inside walls, by the true map, for the table only.) `snap` (off
by default) moves every generated state to the nearest replay state, which makes the generator a chooser of
replay states.

Training triples (start, middle, goal), two ways (`gen_data`):
- `graph` (default): the exploration episodes stitched into one graph of observed moves between the grid cells
  the agent visited (`ReplayGraph`); (start, goal) are two visited cells (half the goals anywhere, half within
  a log-uniform radius), and the middle lies on the shortest observed route between them at a Beta(3, 3)
  fraction of its length. Every state is a real replay state of its cell. The ground-truth walls are never
  used; the `ebm` also takes negatives from the cells no replay state visited.
- `episodes`: three states of one exploration episode in order (episodes are at most `episode_steps` long,
  so these span short, almost straight stretches), the middle at a Beta(3, 3) fraction of the span.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from torch import nn

from ..energy.inference import descend
from ..energy.losses import make_loss
from ..energy.models import MLPEnergy
from ..energy.negatives import parse_negatives
from ..energy.step import GradientStep
from ..errors import ConfigError, choose
from ..monitor import progress
from .train_agent import AgentRun

SOURCES = ("uniform", "replay", "sgm", "cvae", "ebm")


@dataclass
class Candidates:
    """A source's states: `[n, 2]` shared by every episode, or `[B, n, 2]` per episode, in map coordinates."""

    states: np.ndarray
    seconds: float  # wall-clock to produce them
    queries: int = 0  # agent distance queries spent producing them (sgm, and the generators' `gaps`)

    @property
    def shared(self) -> bool:
        return self.states.ndim == 2

    def of(self, rows: np.ndarray | slice) -> Candidates:
        """The candidates of some episodes (a shared set serves them all as it is)."""
        return self if self.shared else Candidates(self.states[rows], self.seconds, self.queries)


@dataclass
class SourceSettings:
    """Settings of the learned and sparsified sources (fields of PlanEvalConfig by the same names)."""

    tau: float = 2.0  # sgm: two-way consistency threshold (steps)
    sgm_pool: int = 1500  # sgm: replay states considered (at most)
    gen_steps: int = 3000  # cvae / ebm: training steps
    gen_batch: int = 256  # cvae / ebm: triples per step
    gen_width: int = 128  # cvae / ebm: hidden units
    per_call: int = 4  # cvae / ebm: samples per (start, goal) pair at each recursion level
    ebm_negatives: str = "uniform:0.25,mismatched:0.5,hard:0.25"
    ebm_infer_steps: int = 60  # ebm: gradient steps of candidate generation
    gen_data: str = "graph"  # cvae / ebm: training triples from the stitched replay graph or single episodes
    ebm_off_data: float = 0.25  # ebm: share of negatives drawn uniformly from cells no replay state visited
    snap: bool = False  # cvae / ebm: move each generated state to the nearest replay state
    split: str = "gaps"  # cvae / ebm: recursion: `gaps` (where the agent cannot cross) or `halves` (blind)
    seed: int = 0


# ----- trajectories and training triples -----

def load_trajectories(run: AgentRun) -> dict[str, np.ndarray]:
    path = run.path / "trajectories.npz"
    if not path.is_file():
        raise ConfigError(f"{run.path} has no trajectories.npz; train the agent with this ebmplan's "
                          f"`maze train`, which saves its exploration trajectories")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def triples(traj: dict[str, np.ndarray], rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """n (start, middle, goal) [n, 2] each: three states of one episode in order, the middle Beta(3,3)."""
    offsets = traj["offsets"]
    lengths = np.diff(offsets)
    usable = np.flatnonzero(lengths >= 3)
    if len(usable) == 0:
        raise ConfigError("the agent's trajectories hold no episode of 3 or more states to learn from")
    ep = usable[rng.integers(len(usable), size=n)]
    length = lengths[ep]
    i = (rng.random(n) * (length - 2)).astype(np.int64)  # start index, leaving room for middle and goal
    j = i + 2 + (rng.random(n) * (length - i - 2)).astype(np.int64)  # goal index >= i + 2
    k = i + 1 + np.minimum((rng.beta(3, 3, n) * (j - i - 1)).astype(np.int64), j - i - 2)  # i < k < j
    s = traj["states"]
    return s[offsets[ep] + i], s[offsets[ep] + k], s[offsets[ep] + j]


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
            from_s = self.dist[s]  # [b, N]
            radius = np.exp(rng.uniform(np.log(2.0), np.log(self.longest), b)).astype(np.float32)
            radius[rng.random(b) < 0.5] = np.inf
            g = (rng.random((b, N), dtype=np.float32) * (from_s <= radius[:, None])).argmax(1)
            total = self.dist[s, g]
            bad = ~np.isfinite(total)
            g[bad], total[bad] = s[bad], 0.0  # unconnected pair: the middle is the start's own cell
            on_route = from_s + self.dist[g] <= total[:, None] + 1e-3  # symmetric: dist[g] = dist[:, g].T
            frac = rng.beta(3, 3, b)[:, None]
            score = np.abs(from_s - frac * total[:, None]) + rng.random((b, N), dtype=np.float32) * 1e-3
            m = np.where(on_route, score, np.inf).argmin(1)
            out.append((self.state_of(s, rng), self.state_of(m, rng), self.state_of(g, rng)))
        return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))

    def snap(self, states: np.ndarray) -> np.ndarray:
        """Each state [n, 2] moved to the nearest replay state."""
        tree = getattr(self, "_tree", None) or cKDTree(self.states)
        self._tree = tree
        return self.states[tree.query(states)[1]]


# ----- sources -----

class Source(ABC):
    """`fit` once per agent run, then `candidates(starts [B, 2], goals [B, 2], n)` per batch of episodes."""

    name = ""

    def __init__(self, run: AgentRun, settings: SourceSettings, max_dist: float):
        self.run, self.maze, self.settings, self.max_dist = run, run.maze, settings, max_dist
        self.device = run.agent.high.device  # a learned source runs where the agent does
        self.rng = np.random.default_rng(settings.seed)
        self.fit_seconds = 0.0

    def fit(self) -> None:
        return None  # sources that learn nothing (uniform, replay) need no fitting

    @abstractmethod
    def candidates(self, starts: np.ndarray, goals: np.ndarray, n: int) -> Candidates: ...


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
            # Only kept states within tau both ways can be interchangeable: d(i,i) = 0 bounds the consistency.
            near = k[(d[i, k] <= s.tau) & (d[k, i] <= s.tau)] if len(k) else k
            if len(near):
                out = np.abs(d[i][None] - d[near]).max(1)  # [K]: outgoing distances differ by at most
                inc = np.abs(d[:, i][:, None] - d[:, near]).max(0)  # [K]: incoming
                if (np.maximum(out, inc) <= s.tau).any():
                    continue
            kept.append(i)
        return Candidates(pool[kept], time.perf_counter() - t0, queries)


class Generator(Source):
    """A learned (start, goal) -> middle sampler, run recursively to the node budget.

    Each call runs `per_call` samples for every (start, goal) pair and keeps the best one as the pair's middle
    (the lowest energy for `ebm`, the prior mean for `cvae`); the candidates are these middles. `halves`
    splits blindly, breadth first: the middle of (start, goal), then of (start, mid) and (mid, goal), ...
    `gaps` splits only the segments the agent's distance says it cannot cross, so the budget goes where the
    route is still broken, and keeps the sample whose longer half is shortest by the agent's distance (these
    distance queries are counted).
    """

    def fit_graph(self) -> None:
        self.graph = ReplayGraph(load_trajectories(self.run), self.maze.high)

    def norm(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x / self.maze.high * 2 - 1, dtype=torch.float32, device=self.device)

    def denorm(self, x: torch.Tensor) -> np.ndarray:
        return (x.detach().cpu().numpy().astype(np.float64) + 1) / 2 * self.maze.high

    @abstractmethod
    def sample(self, s: torch.Tensor, g: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised [P, 2] pairs -> (k samples [P, k, 2], the best one, to recurse on [P, 2])."""

    @torch.no_grad()
    def candidates(self, starts, goals, n):
        t0 = time.perf_counter()
        if self.settings.split == "halves":
            states, queries = self.halves(starts, goals, n), 0
        else:
            states, queries = self.gaps(starts, goals, n)
        return Candidates(states, time.perf_counter() - t0, queries)

    def middles(self, s: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The best of `per_call` samples for each pair, [P, 2] in map coordinates (snapped when asked)."""
        _, mid = self.sample(self.norm(s), self.norm(g), self.settings.per_call)
        mid = self.denorm(mid)
        return self.graph.snap(mid) if self.settings.snap else mid

    def bridge(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of `per_call` samples between each pair, the one whose longer half is shortest by the agent's
        distance, preferring cells the replay data visited -> (middles [K, 2], d(a, mid) [K], d(mid, b) [K])."""
        k = self.settings.per_call
        samples, _ = self.sample(self.norm(a), self.norm(b), k)
        m = self.denorm(samples).reshape(-1, 2)  # [K*k, 2]
        if self.settings.snap:
            m = self.graph.snap(m)
        d_am = self.run.agent.distance(np.repeat(a, k, 0), m).reshape(-1, k)  # [K, k]
        d_mb = self.run.agent.distance(m, np.repeat(b, k, 0)).reshape(-1, k)
        off = ~self.graph.occupied[self.graph.cell_ids(m)].reshape(-1, k)  # where no replay state ever was
        best = (np.maximum(d_am, d_mb) + 1e3 * off).argmin(1)
        rows = np.arange(len(a))
        return m.reshape(-1, k, 2)[rows, best], d_am[rows, best], d_mb[rows, best]

    def halves(self, starts: np.ndarray, goals: np.ndarray, n: int) -> np.ndarray:
        """Breadth first: the middle of (start, goal), then of (start, mid) and (mid, goal), ... -> [B, n, 2]."""
        B = len(starts)
        s, g = starts, goals
        found, total = [], 0
        while total < n:
            mid = self.middles(s, g)  # [P, 2] with P = B * 2^level, grouped by episode
            level = mid.reshape(B, -1, 2)
            if total + level.shape[1] > n:  # a partial last level: spread it along the route
                level = level[:, np.linspace(0, level.shape[1] - 1, n - total).round().astype(np.int64)]
            found.append(level)
            total += level.shape[1]
            s, g = (np.stack([s.reshape(B, -1, 2), mid.reshape(B, -1, 2)], 2).reshape(-1, 2),
                    np.stack([mid.reshape(B, -1, 2), g.reshape(B, -1, 2)], 2).reshape(-1, 2))
        return np.concatenate(found, 1)

    def gaps(self, starts: np.ndarray, goals: np.ndarray, n: int) -> tuple[np.ndarray, int]:
        """Split where the route has a gap: every segment the agent cannot cross (its distance at or above the
        cutoff) gets a middle, longest first; once an episode has none left, its longest segments are split
        to spend the rest of the budget. -> ([B, n, 2], distance queries)."""
        B = len(starts)
        out, count = np.empty((B, n, 2)), np.zeros(B, dtype=np.int64)
        ep, a, b = np.arange(B), starts, goals  # segments: episode [S], ends [S, 2] each
        d = self.run.agent.distance(a, b)
        queries = B
        while (count < n).any():
            gap = d >= self.max_dist
            has_gap = np.bincount(ep[gap], minlength=B) > 0
            eligible = gap | ~has_gap[ep]
            order = np.lexsort((-d, ep))  # by episode, longest first
            order = order[eligible[order]]
            rank = np.arange(len(order)) - np.searchsorted(ep[order], ep[order])  # rank within its episode
            pick = order[rank < (n - count)[ep[order]]]  # [K] segments to split
            mid, d_am, d_mb = self.bridge(a[pick], b[pick])  # [K, 2], [K], [K]
            queries += 2 * len(pick) * self.settings.per_call
            e = ep[pick]
            slot = count[e] + np.arange(len(e)) - np.searchsorted(e, e)  # e is sorted
            out[e, slot] = mid
            count += np.bincount(e, minlength=B)
            keep = np.ones(len(ep), bool)
            keep[pick] = False
            new_a, new_b = np.concatenate([a[pick], mid]), np.concatenate([mid, b[pick]])
            new_d = np.concatenate([d_am, d_mb])
            ep, a, b = np.r_[ep[keep], e, e], np.r_[a[keep], new_a], np.r_[b[keep], new_b]
            d = np.r_[d[keep], new_d]
            order = np.argsort(ep, kind="stable")
            ep, a, b, d = ep[order], a[order], b[order], d[order]
        return out, queries

    def training_data(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Up to 2^15 distinct triples (a step draws its batch from them at random), normalised."""
        n = min(n, 2**15)
        if self.settings.gen_data == "graph":
            s, m, g = self.graph.triples(self.rng, n)
        else:
            s, m, g = triples(load_trajectories(self.run), self.rng, n)
        return self.norm(s), self.norm(m), self.norm(g)

    def batches(self, data: tuple[torch.Tensor, ...]):
        """`gen_steps` random batches of `gen_batch` rows of the training triples."""
        gen = torch.Generator().manual_seed(self.settings.seed)
        for _ in range(self.settings.gen_steps):
            rows = torch.randint(len(data[0]), (self.settings.gen_batch,), generator=gen)  # on the CPU: the
            yield tuple(x[rows.to(x.device)] for x in data)  # same batches on every device


CHUNK = 2**17  # rows a generator decodes or refines at once: bounds its activations (~64 MB a layer, width 128)


def chunked(fn, *xs: torch.Tensor) -> torch.Tensor:
    """`fn` over row chunks of its tensors, concatenated: the same rows out, the peak memory of one chunk.
    Callers draw every random number before, so that chunking changes no result."""
    return torch.cat([fn(*part) for part in zip(*(x.split(CHUNK) for x in xs), strict=True)])


def mlp(inp: int, width: int, out: int, depth: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a in [inp] + [width] * (depth - 1):
        layers += [nn.Linear(a, width), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(width, out))


class CVAESource(Generator):
    """q(z | m, s, g) and p(m | z, s, g) with a 2-D Gaussian latent; samples decode prior z."""

    name = "cvae"
    latent = 2

    def fit(self):
        t0 = time.perf_counter()
        torch.manual_seed(self.settings.seed)
        w = self.settings.gen_width
        self.encoder = mlp(6, w, 2 * self.latent).to(self.device)
        self.decoder = mlp(4 + self.latent, w, 2).to(self.device)
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        update = GradientStep([self.encoder, self.decoder], torch.optim.Adam(params, lr=1e-3),
                              what="cvae subgoal generator")
        self.fit_graph()
        data = self.training_data(self.settings.gen_steps * self.settings.gen_batch)
        for step, (s, m, g) in enumerate(progress(self.batches(data), total=self.settings.gen_steps,
                                                   desc="fit cvae subgoals")):
            c = torch.cat([s, g], 1)  # [b, 4]
            mu, logvar = self.encoder(torch.cat([m, c], 1)).chunk(2, 1)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            recon = (self.decoder(torch.cat([z, c], 1)) - m).pow(2).sum(1)  # [b]
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
            # Gaussian decoder with std 0.05 in normalised units (~1.4 cells on a 55-cell map).
            loss = (recon / (2 * 0.05**2) + kl).mean()
            update(loss, step + 1)
        self.fit_seconds = time.perf_counter() - t0

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c], 1)).clamp(-1, 1)

    def sample(self, s, g, k):
        c = torch.cat([s, g], 1)  # [P, 4]
        z = torch.randn(len(c) * k, self.latent, device=self.device)
        samples = chunked(self.decode, z, c.repeat_interleave(k, 0)).reshape(len(s), k, 2)
        mid = chunked(self.decode, torch.zeros(len(s), self.latent, device=self.device), c)  # the prior mean
        return samples, mid


class EBMSource(Generator):
    """F(m | (s, g)): an MLP energy over the middle state with the pair as context."""

    name = "ebm"

    def fit(self):
        t0 = time.perf_counter()
        st = self.settings
        torch.manual_seed(st.seed)
        self.energy = MLPEnergy(2, width=st.gen_width, depth=3, context_dim=4).to(self.device)
        self.box = (torch.full((2,), -1.0, device=self.device), torch.full((2,), 1.0, device=self.device))
        negatives = parse_negatives(st.ebm_negatives, self.box, hard_size=20000)
        loss_fn = make_loss("log")
        update = GradientStep(self.energy, torch.optim.Adam(self.energy.parameters(), lr=1e-3),
                              what="ebm subgoal energy")
        self.fit_graph()
        n_off = round(8 * st.ebm_off_data)
        data = self.training_data(st.gen_steps * st.gen_batch)
        for step, (s, m, g) in enumerate(progress(self.batches(data), total=st.gen_steps, desc="fit ebm subgoals")):
            c = torch.cat([s, g], 1)  # [b, 4]
            neg = negatives.sample(m, 8 - n_off, self.energy, c)  # [b, 8 - n_off, 2]
            if n_off:  # states off the observed free space: walls, as far as the agent's data tells
                off = self.norm(self.graph.off_data(self.rng, len(m) * n_off)).reshape(len(m), n_off, 2)
                neg = torch.cat([neg, off], 1)  # [b, 8, 2]
            e_pos, e_neg = self.energy(m, c), self.energy.energies(neg, c)  # [b], [b, 8]
            loss = loss_fn(e_pos, e_neg)
            update(loss, step + 1)
            negatives.observe(neg, e_neg.detach(), e_pos.detach(), 1.0)
        self.energy.eval()
        self.fit_seconds = time.perf_counter() - t0

    def refine(self, x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return descend(self.energy, x0, context=c, steps=self.settings.ebm_infer_steps, step_size=0.05,
                       final_step_size=0.005, schedule="cosine", max_move=0.1, tol=1e-4, box=self.box).samples

    def sample(self, s, g, k):
        P = len(s)
        c = torch.cat([s, g], 1).repeat_interleave(k, 0)  # [P*k, 4]
        x0 = torch.rand(P * k, 2, device=self.device) * 2 - 1
        out = chunked(self.refine, x0, c)  # [P*k, 2]
        e = chunked(self.energy, out, c).reshape(P, k)
        samples = out.reshape(P, k, 2)
        return samples, samples[torch.arange(P, device=self.device), e.argmin(1)]


REGISTRY: dict[str, type[Source]] = {"uniform": UniformSource, "replay": ReplaySource, "sgm": SGMSource,
                                     "cvae": CVAESource, "ebm": EBMSource}


def make_source(name: str, run: AgentRun, settings: SourceSettings, max_dist: float) -> Source:
    """A fitted source by name (a ConfigError lists the names)."""
    source = REGISTRY[choose("candidate source", name, REGISTRY)](run, settings, max_dist)
    source.fit()
    return source


__all__ = ["SOURCES", "Candidates", "ReplayGraph", "SourceSettings", "make_source", "triples"]
