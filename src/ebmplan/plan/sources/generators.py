"""The per-episode candidate sources, `cvae`, `ebm` and `route`: given (start, goal), they place the states
between them. `cvae` and `ebm` learn to generate them; `route` learns nothing and is their replay-only peer.

All three run recursively (see `Generator`): a middle for (start, goal), then for (start, mid) and (mid, goal), and
so on, by default only where the agent's distance says the route still has a gap, and until none is left or
the node budget (a cap) is spent. They learn from the agent's exploration data only (replay_graph.py) and no
source knows the walls. The only test of a sample's place is learned or observed: `gaps` prefers, of each
call's samples, those in cells some replay state visited, and the agent's distance decides which of them
bridges the gap. (`plan eval` counts the generated states that lie inside walls, by the true map, for the table
only.) `snap` (on by default) moves every generated state to the nearest replay state, which makes the
generator a chooser of replay states; `near_split route` (the default) gives the gaps short enough for the
agent's distance to judge (under `far_at` times the cutoff) the halfway replay state of the shortest observed
route between their ends instead of a generated middle, so the generator places the long-range middles only.
`route` takes the observed route's middle for every gap, however long: the measure of what the generated
middles add.
"""

from __future__ import annotations

import time
from abc import abstractmethod

import numpy as np
import torch
from torch import nn

from ...common.monitor import progress
from ...energy.contrastive import ContrastiveStep
from ...energy.inference import descend
from ...energy.losses import make_loss
from ...energy.models import EnergyModel, MLPEnergy
from ...energy.negatives import Drawn, Mixture, parse_negatives
from ...energy.nets import mlp
from ...energy.step import GradientStep
from .candidates import Candidates, Source, load_trajectories
from .replay_graph import ReplayGraph, episode_triples


class Generator(Source):
    """A learned (start, goal) -> middle sampler, run recursively to the node budget.

    Each call runs `per_call` samples for every (start, goal) pair and keeps the best one as the pair's middle
    (the lowest energy for `ebm`, the prior mean for `cvae`); the candidates are these middles. `halves`
    splits blindly, breadth first: the middle of (start, goal), then of (start, mid) and (mid, goal), ...
    `gaps` splits only the segments the agent's distance says it cannot cross, so the budget goes where the
    route is still broken, and keeps the sample whose longer half is shortest by the agent's distance (these
    distance queries are counted).

    `build` makes the untrained networks (seeded), which `fit` trains; `networks` names the attributes that hold
    them, so a fit can be saved and loaded into a built source (the playground keeps fits beside the agent).
    """

    networks: tuple[str, ...] = ()

    @abstractmethod
    def build(self) -> None: ...

    def fit_graph(self) -> None:
        self.graph = ReplayGraph(load_trajectories(self.run), self.maze.high)

    def norm(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x / self.maze.high * 2 - 1, dtype=torch.float32, device=self.device)

    def denorm(self, x: torch.Tensor) -> np.ndarray:
        return (x.detach().cpu().numpy().astype(np.float64) + 1) / 2 * self.maze.high

    def sample_energies(self, m: torch.Tensor, s: torch.Tensor, g: torch.Tensor) -> np.ndarray | None:
        """The learned energy of samples m [P, k, 2] between normalised pairs [P, 2] -> [P, k], or None (cvae)."""
        return None

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
            # Under a cap, the slots no episode used are dropped (one episode alone gets no NaN row); when no
            # episode needed a node, the start stands in as the one node.
            used = int(np.isfinite(states).all(-1).sum(-1).max())
            states = states[:, :used] if used else np.asarray(starts, dtype=np.float64)[:, None].copy()
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
        s, g = self.norm(a), self.norm(b)
        samples, _ = self.sample(s, g, k)
        m = self.denorm(samples).reshape(-1, 2)  # [K*k, 2]
        if self.settings.snap:
            m = self.graph.snap(m)
        d_am = self.run.agent.distance(np.repeat(a, k, 0), m).reshape(-1, k)  # [K, k]
        d_mb = self.run.agent.distance(m, np.repeat(b, k, 0)).reshape(-1, k)
        off = ~self.graph.occupied[self.graph.cell_ids(m)].reshape(-1, k)  # where no replay state ever was
        score = np.maximum(d_am, d_mb)
        e = self.sample_energies(self.norm(m).reshape(-1, k, 2), s, g) if self.settings.far_pick == "energy" else None
        if e is not None:  # where every sample's longer half is beyond the agent's judgment, the energy decides
            far = (score >= self.settings.far_at * self.max_dist).all(1, keepdims=True)  # [K, 1]
            score = np.where(far, e, score)
        best = (score + 1e3 * off).argmin(1)
        rows = np.arange(len(a))
        return m.reshape(-1, k, 2)[rows, best], d_am[rows, best], d_mb[rows, best]

    def routed(self, d: np.ndarray) -> np.ndarray:
        """Which gaps [K] (their lengths by the agent's distance) take the observed route's middle: with
        `--near-split route`, those the agent's distance can judge (under `far_at` times the cutoff)."""
        return (d < self.settings.far_at * self.max_dist) & (self.settings.near_split == "route")

    def route_bridge(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`--near-split route`: the halfway replay state of the shortest observed route -> like `bridge`."""
        m = self.graph.route_middles(a, b, self.rng)
        return m, self.run.agent.distance(a, m), self.run.agent.distance(m, b)

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
        to spend the rest of the budget (`fill`), or it stops there (`cap`: the unused rows are NaN, nodes the
        planner never connects). -> ([B, n, 2], distance queries)."""
        B = len(starts)
        out, count = np.full((B, n, 2), np.nan), np.zeros(B, dtype=np.int64)
        ep, a, b = np.arange(B), starts, goals  # segments: episode [S], ends [S, 2] each
        d = self.run.agent.distance(a, b)
        queries = B
        fill = self.settings.budget == "fill"
        while (count < n).any():
            gap = d >= self.max_dist
            has_gap = np.bincount(ep[gap], minlength=B) > 0
            eligible = gap | ~has_gap[ep] if fill else gap & (count[ep] < n)
            if not eligible.any():  # `cap`: every hop is trusted (or the cap is spent); the rest stays NaN
                break
            order = np.lexsort((-d, ep))  # by episode, longest first
            order = order[eligible[order]]
            rank = np.arange(len(order)) - np.searchsorted(ep[order], ep[order])  # rank within its episode
            pick = order[rank < (n - count)[ep[order]]]  # [K] segments to split
            # [K] the gaps that take the observed route's middle (`routed`); the others the generator's
            near = self.routed(d[pick])
            mid, d_am, d_mb = np.empty((len(pick), 2)), np.empty(len(pick)), np.empty(len(pick))  # [K, 2], [K], [K]
            for part, fn in ((near, self.route_bridge), (~near, self.bridge)):
                if part.any():
                    mid[part], d_am[part], d_mb[part] = fn(a[pick[part]], b[pick[part]])
            queries += 2 * int(near.sum()) + 2 * int((~near).sum()) * self.settings.per_call
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
            s, m, g = episode_triples(load_trajectories(self.run), self.rng, n)
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


class CVAESource(Generator):
    """q(z | m, s, g) and p(m | z, s, g) with a 2-D Gaussian latent; samples decode prior z."""

    name = "cvae"
    latent = 2
    networks = ("encoder", "decoder")

    def build(self):
        torch.manual_seed(self.settings.seed)
        w = self.settings.gen_width
        self.encoder = mlp(6, 2 * self.latent, width=w, depth=3).to(self.device)  # [m, s, g] -> (mu, logvar)
        self.decoder = mlp(4 + self.latent, 2, width=w, depth=3).to(self.device)  # [z, s, g] -> m

    def fit(self):
        t0 = time.perf_counter()
        self.build()
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        update = GradientStep([self.encoder, self.decoder], torch.optim.Adam(params, lr=self.settings.gen_lr),
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


class RouteSource(Generator):
    """The observed route alone: the gap recursion of the generators, every middle the halfway replay state of
    the shortest observed route between the segment's ends (`ReplayGraph`). Nothing is learned: like `sgm`, it
    uses the agent's replay data only, so it is the generators' fair peer and tells what a generated middle
    adds over the data it was trained on."""

    name = "route"

    def build(self):
        pass

    def fit(self):
        t0 = time.perf_counter()
        self.fit_graph()
        self.fit_seconds = time.perf_counter() - t0

    def routed(self, d):
        return np.ones(len(d), bool)

    def sample(self, s, g, k):
        mid = self.norm(self.graph.route_middles(self.denorm(s), self.denorm(g), self.rng))  # [P, 2]
        return mid[:, None].expand(-1, k, -1), mid


class ComposedEnergy(EnergyModel):
    """E(m | (s, g)) = F(m | (s, g)) + lambda * max(D(s, m), D(m, g)): the learned data energy (or none) plus
    the agent's own distance on the middle (RIS's subgoal objective), a product of experts that descent
    minimises jointly. Normalised coordinates in and out, like F; D in the agent's steps. The agent's weights
    are not trained here: only the gradient in m is taken."""

    dim, context_dim = 2, 4

    def __init__(self, data: EnergyModel | None, agent: nn.Module, high: np.ndarray, lam: float):
        super().__init__()
        self.data, self.agent, self.lam = data, agent, lam
        self.register_buffer("to_map", torch.as_tensor(np.asarray(high) / 2, dtype=torch.float32))

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The agent's pessimistic expected steps, differentiable: [B, 2] x [B, 2] map coordinates -> [B]."""
        agent = self.agent
        return agent.expected_steps(agent.logits(a, b, agent.act(a, b))).amax(0)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        m, s, g = ((v + 1) * self.to_map for v in (x, context[:, :2], context[:, 2:]))  # map coords
        e = self.lam * torch.maximum(self.distance(s, m), self.distance(m, g))  # [B]
        return e if self.data is None else e + self.data(x, context)


class EBMSource(Generator):
    """F(m | (s, g)): an MLP energy over the middle state with the pair as context."""

    name = "ebm"
    networks = ("energy",)

    def build(self):
        torch.manual_seed(self.settings.seed)
        self.energy = MLPEnergy(2, width=self.settings.gen_width, depth=3, context_dim=4).to(self.device)
        self.box = (torch.full((2,), -1.0, device=self.device), torch.full((2,), 1.0, device=self.device))

    def fit(self, *, loss: str = "log", n_negatives: int = 8, hard_size: int = 20000, margin: float = 1.0):
        """Train F contrastively: `n_negatives` per middle, `ebm_off_data` of them off the observed free space and
        the rest from `ebm_negatives` (a hard buffer of `hard_size`, told `margin`), under the loss `loss`."""
        t0 = time.perf_counter()
        st = self.settings
        self.build()
        negatives = parse_negatives(st.ebm_negatives, self.box, hard_size=hard_size)
        loss_fn = make_loss(loss)
        update = GradientStep(self.energy, torch.optim.Adam(self.energy.parameters(), lr=self.settings.gen_lr),
                              what="ebm subgoal energy")
        self.fit_graph()
        n_off = round(n_negatives * st.ebm_off_data)
        if n_off:  # states off the observed free space: walls, as far as the agent's data tells; drawn last
            off = Drawn(lambda count: self.norm(self.graph.off_data(self.rng, count)))
            negatives = Mixture({"data": (n_negatives - n_off, negatives), "off-data": (n_off, off)})
        contrast = ContrastiveStep(self.energy, update, negatives, loss_fn, n_negatives=n_negatives, margin=margin)
        data = self.training_data(st.gen_steps * st.gen_batch)
        for step, (s, m, g) in enumerate(progress(self.batches(data), total=st.gen_steps, desc="fit ebm subgoals")):
            contrast(m, step + 1, context=torch.cat([s, g], 1))  # middles [b, 2] between pairs [b, 4]
        self.energy.eval()
        self.fit_seconds = time.perf_counter() - t0

    def sample_energies(self, m, s, g):
        P, k, _ = m.shape
        c = torch.cat([s, g], 1).repeat_interleave(k, 0)  # [P*k, 4]
        return chunked(self.energy, m.reshape(-1, 2), c).reshape(P, k).detach().cpu().numpy()

    def descended(self) -> EnergyModel:
        """The energy that sampling descends (`--ebm-energy`): the learned one, the agent's distance, or both."""
        st = self.settings
        if st.ebm_energy == "data":
            return self.energy
        return ComposedEnergy(self.energy if st.ebm_energy == "sum" else None, self.run.agent, self.maze.high,
                              st.ebm_lambda).eval()

    def refine(self, x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return descend(self.descended(), x0, context=c, steps=self.settings.ebm_infer_steps, step_size=0.05,
                       final_step_size=0.005, schedule="cosine", max_move=0.1, tol=1e-4, box=self.box).samples

    def pooled(self, s: torch.Tensor, g: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`--ebm-init replay`: the k lowest-energy of `ebm_pool` replay states per pair (half drawn around the
        straight midpoint, within the pair's half-extent plus 2 cells, and snapped to the nearest replay state;
        half uniform over the replay states), no descent."""
        P, R = len(s), self.settings.ebm_pool
        a, b = self.denorm(s), self.denorm(g)  # [P, 2] map coordinates
        h = R // 2
        reach = np.abs(b - a).max(1, keepdims=True) / 2 + 2  # [P, 1]
        near = (a + b)[:, None] / 2 + reach[:, None] * (self.rng.random((P, h, 2)) * 2 - 1)  # [P, h, 2]
        near = self.graph.snap(near.reshape(-1, 2)).reshape(P, h, 2)
        anywhere = self.graph.states[self.rng.integers(len(self.graph.states), size=(P, R - h))]  # [P, R-h, 2]
        pool = self.norm(np.concatenate([near, anywhere], 1))  # [P, R, 2]
        e = torch.as_tensor(self.sample_energies(pool, s, g), device=self.device)  # [P, R]
        best = e.topk(k, dim=1, largest=False).indices  # [P, k], lowest energy first
        samples = pool[torch.arange(P, device=self.device)[:, None], best]  # [P, k, 2]
        return samples, samples[:, 0]

    def sample(self, s, g, k):
        P = len(s)
        if self.settings.ebm_init == "replay":
            return self.pooled(s, g, k)
        c = torch.cat([s, g], 1).repeat_interleave(k, 0)  # [P*k, 4]
        x0 = torch.rand(P * k, 2, device=self.device) * 2 - 1  # [P*k, 2]
        if self.settings.ebm_init == "mid":  # half the chains from the straight midpoint, spread with the gap
            h = (k + 1) // 2
            mid, spread = (s + g) / 2, (g - s).norm(dim=1, keepdim=True) / 4  # [P, 2], [P, 1]
            near = mid[:, None] + spread[:, None] * torch.randn(P, h, 2, device=self.device)  # [P, h, 2]
            near[:, 0] = mid
            x0 = x0.reshape(P, k, 2)
            x0[:, :h] = near.clamp(-1, 1)
            x0 = x0.reshape(P * k, 2)
        out = chunked(self.refine, x0, c)  # [P*k, 2]
        e = chunked(self.descended(), out, c).reshape(P, k)
        samples = out.reshape(P, k, 2)
        return samples, samples[torch.arange(P, device=self.device), e.argmin(1)]
