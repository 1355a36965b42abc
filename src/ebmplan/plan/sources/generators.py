"""The learned per-episode candidate sources, `cvae` and `ebm`: given (start, goal), they generate the states
between them.

Both place their nodes by the gap recursion (gaps.py): a middle for every segment the agent's distance says it
cannot cross, longest first, until no gap is left or the node budget (a cap) is spent. They learn from the
agent's exploration data only (replay_graph.py) and no source knows the walls. Each call runs `per_call`
samples per pair; every sample moves to the nearest replay state (so the generator chooses among replay states),
and the agent's distance picks the sample whose longer half is shortest (`ebm`: where every sample's longer half
is at least `far_at` times the cutoff, beyond the distance's judgment, the lowest learned energy). A gap short
enough for the agent's distance to judge (under `far_at` times the cutoff) takes the halfway replay state of the
shortest observed route between its ends instead, so the generator places the long-range middles only; the
`route` source (registry.py) takes the observed route's middle for every gap, the measure of what the generated
middles add. (`plan eval` counts the generated states that lie inside walls, by the true map, for the table
only.)
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ...common.monitor import progress
from ...energy.contrastive import ContrastiveStep
from ...energy.inference import descend
from ...energy.losses import make_loss
from ...energy.models import MLPEnergy
from ...energy.negatives import Drawn, Mixture, parse_negatives
from ...energy.nets import mlp
from ...energy.step import GradientStep
from .candidates import Source, load_trajectories
from .gaps import gap_candidates, observed_middles
from .replay_graph import ReplayGraph


class Generator(Source):
    """A learned (start, goal) -> middle sampler, run by the gap recursion (gaps.py).

    `build` makes the untrained networks (seeded) named in `networks`, which `fit` trains; a fit is their
    state dict. The distance queries of every call are counted (`per_call` samples, both halves)."""

    per_episode = learns = True
    networks: tuple[str, ...] = ()

    def build(self) -> None:
        raise NotImplementedError

    def fit_graph(self) -> None:
        self.graph = ReplayGraph(load_trajectories(self.run), self.maze.high)

    def modules(self) -> nn.ModuleDict:
        return nn.ModuleDict({n: getattr(self, n) for n in self.networks})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().contiguous().cpu() for k, v in self.modules().state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.build()
        self.fit_graph()
        self.modules().load_state_dict(state)
        self.modules().eval()

    def norm(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x / self.maze.high * 2 - 1, dtype=torch.float32, device=self.device)

    def denorm(self, x: torch.Tensor) -> np.ndarray:
        return (x.detach().cpu().numpy().astype(np.float64) + 1) / 2 * self.maze.high

    def sample_energies(self, m: torch.Tensor, s: torch.Tensor, g: torch.Tensor) -> np.ndarray | None:
        """The learned energy of samples m [P, k, 2] between normalised pairs [P, 2] -> [P, k], or None (cvae)."""
        return None

    def sample(self, s: torch.Tensor, g: torch.Tensor, k: int) -> torch.Tensor:
        """Normalised [P, 2] pairs -> k samples between each, [P, k, 2]."""
        raise NotImplementedError

    @torch.no_grad()
    def candidates(self, starts, goals, n):
        return gap_candidates(starts, goals, n, self.run.agent.distance, self.bridge, self.max_dist,
                              self.settings.budget == "fill")

    def bridge(self, a: np.ndarray, b: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The gaps' middles (gaps.Bridge): the observed route's for the gaps the agent's distance can judge
        (under `far_at` times the cutoff), the generator's for the others."""
        near = d < self.settings.far_at * self.max_dist  # [K]
        mid, d_am, d_mb = np.empty((len(a), 2)), np.empty(len(a)), np.empty(len(a))  # [K, 2], [K], [K]
        queries = 0
        for part, fn in ((near, self.observed), (~near, self.generated)):
            if part.any():
                mid[part], d_am[part], d_mb[part], spent = fn(a[part], b[part])
                queries += spent
        return mid, d_am, d_mb, queries

    def observed(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        return observed_middles(self.graph, self.run.agent.distance, self.rng, a, b)

    def generated(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Of `per_call` samples between each pair, snapped to replay states, the one whose longer half is
        shortest by the agent's distance (the lowest energy where every longer half is beyond its judgment)."""
        k = self.settings.per_call
        s, g = self.norm(a), self.norm(b)
        samples = self.sample(s, g, k)  # [K, k, 2]
        m = self.graph.snap(self.denorm(samples).reshape(-1, 2))  # [K*k, 2]
        d_am = self.run.agent.distance(np.repeat(a, k, 0), m).reshape(-1, k)  # [K, k]
        d_mb = self.run.agent.distance(m, np.repeat(b, k, 0)).reshape(-1, k)
        score = np.maximum(d_am, d_mb)
        e = self.sample_energies(self.norm(m).reshape(-1, k, 2), s, g)
        if e is not None:  # where every sample's longer half is beyond the agent's judgment, the energy decides
            far = (score >= self.settings.far_at * self.max_dist).all(1, keepdims=True)  # [K, 1]
            score = np.where(far, e, score)
        best = score.argmin(1)
        rows = np.arange(len(a))
        return m.reshape(-1, k, 2)[rows, best], d_am[rows, best], d_mb[rows, best], 2 * k * len(a)

    def training_data(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Up to 2^15 distinct triples (a step draws its batch from them at random), normalised."""
        s, m, g = self.graph.triples(self.rng, min(n, 2**15))
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
        return chunked(self.decode, z, c.repeat_interleave(k, 0)).reshape(len(s), k, 2)


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

    def refine(self, x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return descend(self.energy, x0, context=c, steps=self.settings.ebm_infer_steps, step_size=0.05,
                       final_step_size=0.005, schedule="cosine", max_move=0.1, tol=1e-4, box=self.box).samples

    def sample(self, s, g, k):
        P = len(s)
        c = torch.cat([s, g], 1).repeat_interleave(k, 0)  # [P*k, 4]
        x0 = torch.rand(P * k, 2, device=self.device) * 2 - 1  # [P*k, 2]
        # half the chains start from the straight midpoint (the first exactly there, the others spread by a
        # quarter of the pair's distance), the others from uniform noise
        h = (k + 1) // 2
        mid, spread = (s + g) / 2, (g - s).norm(dim=1, keepdim=True) / 4  # [P, 2], [P, 1]
        near = mid[:, None] + spread[:, None] * torch.randn(P, h, 2, device=self.device)  # [P, h, 2]
        near[:, 0] = mid
        x0 = x0.reshape(P, k, 2)
        x0[:, :h] = near.clamp(-1, 1)
        x0 = x0.reshape(P * k, 2)
        return chunked(self.refine, x0, c).reshape(P, k, 2)
