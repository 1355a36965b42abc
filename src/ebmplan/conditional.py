"""Multi-valued regression: predict y from x where several y are right, by energy and by least squares.

On the spiral (docs/protocol.md §2) the condition x is a point's first coordinate and the free variable y its second;
a vertical line crosses the curve up to four times, so most x have several right answers. Three models with
the same network budget are trained on the same pairs:
- `conditional`: a contrastive energy F(y | x), predicting every converged minimum from several random starts;
- `latent`: a latent-variable energy F(y | x, z) (energy/latent.py), predicting one answer per prior sample z;
- `regressor`: an MLP x -> y trained by mean squared error, which predicts the mean of the branches.
On held-out x each is scored by `precision` (mean distance of its predicted (x, y) points to the clean curve)
and `mode_coverage` (fraction of the true y-branches at x that some prediction reaches within `radius`), in two
views of its answers (`VIEWS`, both in metrics.json under each model):
- `all_answers`: every answer the model gives, converged or not, not de-duplicated (the conditional EBM's end
  point of every start, the latent EBM's answer for every z, the regressor's one output). This is the
  like-for-like comparison with the regressor, which cannot leave an answer out.
- `converged_answers`: only answers whose descent converged, de-duplicated within 0.05 (the lowest-energy one
  when none converged); for the regressor every answer counts as converged, so its two views agree.
Each model's flat keys (`precision`, `mode_coverage`, ...) repeat its `converged_answers` view.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from .config import Contrastive, Inference, Network, Optimiser, RunOptions
from .data.toy2d import load_data
from .energy.latent import LatentEnergy, latent_energies, predict_latent
from .energy.models import ACTIVATIONS, EnergyModel, FiLMEnergy, MLPEnergy
from .energy.negatives import Box, parse_negatives
from .energy.predict import predict
from .energy.step import GradientStep
from .errors import choose
from .files import load_weights, read_json
from .monitor import ScalarLog, progress
from .resources import RUNTIME, chains_at_once, check_memory, mlp_params, network_bytes
from .runs import Run, loader, resolve_device, saved_config, seed_everything

TASKS = ("spiral",)
FUSIONS = ("concat", "film")
KINDS = ("conditional", "latent", "deterministic", "regressor")  # as in metrics.json
VIEWS = ("all_answers", "converged_answers")
VIEW_NOTES = {
    "all_answers": "every answer, converged or not, not de-duplicated (like-for-like with the regressor)",
    "converged_answers": "converged answers only, de-duplicated within 0.05 (the regressor: all its answers)",
}


@dataclass
class ConditionalConfig(RunOptions, Network, Optimiser, Contrastive, Inference):
    """Multi-valued regression on the spiral: conditional and latent EBMs against an MSE regressor."""

    task: str = "spiral"
    """the task: spiral (x = first coordinate, y = second)"""
    width: int = 64
    """hidden units per layer (all three models)"""
    depth: int = 3
    """hidden layers (all three models)"""
    fusion: str = "concat"
    """how F(y | x) joins x and y: concat (an MLP on [y, x]) or film (x scales and shifts each layer)"""
    loss: str = "log"
    """contrastive loss of both energies: margin, hinge, log, square-square, square-exp, infonce or cd"""
    negatives: str = "uniform:0.5,mismatched:0.25,hard:0.25"
    """negatives of the conditional energy: uniform, mismatched, perturb, model, hard (weighted mixture)"""
    latent_negatives: str = "uniform:0.5,mismatched:0.5"
    """negatives of the latent energy (same kinds)"""
    hard_size: int = 20000
    """capacity of the hard-negative buffer"""
    hard_alpha: float = 1.0
    """priority exponent of the hard-negative buffer"""
    hard_pool: int = 4
    """each row scores pool x n buffer points under its own x and keeps the hardest n"""
    latent_dim: int = 1
    """size of the latent z (prior: uniform on [-1, 1]^L)"""
    latent_candidates: int = 8
    """prior samples searched for the best latent z* of each pair"""
    latent_steps: int = 0
    """projected gradient steps refining z* after the search"""
    latent_own_negatives: bool = True
    """also push up each negative under its own best latent (no z may make a wrong y fit)"""
    steps: int = 3000
    """training steps of each model"""
    batch_size: int = 128
    """pairs per step"""
    n_eval: int = 300
    """held-out x (from the test split) to predict at"""
    starts: int = 16
    """conditional EBM: random starts per x; every distinct converged minimum is an answer"""
    latent_samples: int = 8
    """latent EBM: prior samples of z per x (one answer each)"""
    latent_starts: int = 4
    """latent EBM: random starts per (x, z); the lowest-energy end point is the answer"""
    infer_final_step_size: float = 0.002
    """inference: final step size (cosine schedule)"""
    radius: float = 0.1
    """a true branch counts as reached when a prediction lies within this distance in y"""
    resume: str | None = None
    """continue the run in this folder: models it finished are loaded, the rest trained (its saved config is
    used)"""

    def check(self) -> None:
        choose("task", self.task, TASKS)
        choose("fusion", self.fusion, FUSIONS)
        self.require(at_least_one=("hard_size", "hard_pool", "latent_dim", "latent_candidates", "n_eval",
                                   "starts", "latent_samples", "latent_starts"),
                     positive=("infer_final_step_size", "radius"), non_negative=("hard_alpha", "latent_steps"))
        check_memory(self.memory_needed(), f"training width-{self.width} networks",
                     "use a smaller --width (or --batch-size, --n-eval)", device=resolve_device(self.device))

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the three networks' parameters (one in training,
        with gradients and Adam's moments); and the largest of the passing peaks: the activations of a
        training step of the latent model (positives, negatives under z* and under their own best latent),
        the forward passes without gradients (the latent search over candidates for every negative, the
        hard-negative pools, the final energies of all predictions, the 160 x 160 figure grid), and the
        prediction chains.
        """
        B, n, W, L = self.batch_size, self.n_negatives, self.width, self.depth
        predictions = self.n_eval * max(self.starts, self.latent_samples * self.latent_starts)
        forward = max(B * n * self.hard_pool * self.latent_candidates, predictions, 160 * 160)
        return RUNTIME + network_bytes(mlp_params(3, W, L), W, L, train_rows=B * (1 + 2 * n), forward_rows=forward,
                                       chain_rows=chains_at_once(predictions, W, resolve_device(self.device)),
                                       copies=7)  # three networks' weights; one's gradients and moments; a copy


# ----- the task: pairs, held-out x, and the true branches at each x -----

def spiral_curve(n: int = 20000) -> np.ndarray:
    """The clean spiral (docs/protocol.md §2) as n points in order along the curve: [n, 2]."""
    theta = np.linspace(math.pi / 2, math.pi / 2 + 4 * math.pi, n)
    r = 1.5 * theta / (math.pi / 2 + 4 * math.pi)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], 1)


def branches_at(x: np.ndarray, curve: np.ndarray) -> list[np.ndarray]:
    """The y of every crossing of the vertical line at each x with the ordered curve [n, 2]."""
    out = []
    cx, cy = curve[:-1], curve[1:]
    for xi in x:
        a, b = cx[:, 0] - xi, cy[:, 0] - xi
        hit = np.nonzero((a <= 0) & (b > 0) | (a > 0) & (b <= 0))[0]  # segments that cross the line
        t = a[hit] / (a[hit] - b[hit])
        out.append(cx[hit, 1] + t * (cy[hit, 1] - cx[hit, 1]))
    return out


@dataclass
class Pairs:
    x: torch.Tensor  # [N, 1] condition (first coordinate)
    y: torch.Tensor  # [N, 1] free variable (second coordinate)
    x_eval: torch.Tensor  # [E, 1] held-out x, from the test split
    box: Box  # the padded y range
    curve: np.ndarray  # [n, 2] the clean curve in order


def spiral_pairs(seed: int, n_eval: int) -> Pairs:
    data = load_data("spiral", seed=seed)
    g = torch.Generator().manual_seed(seed)
    test = data.test[torch.randperm(len(data.test), generator=g)[:n_eval]]
    return Pairs(x=data.train[:, :1], y=data.train[:, 1:], x_eval=test[:, :1],
                 box=(data.low[1:], data.high[1:]), curve=spiral_curve())


# ----- training -----

def regressor(width: int, depth: int, activation: str) -> nn.Module:
    """An MLP x [B, 1] -> y [B, 1] with the energies' layer sizes (one input fewer)."""
    act = ACTIVATIONS[activation]
    sizes = [1] + [width] * depth
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), act()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def conditional_energy(cfg: ConditionalConfig) -> EnergyModel:
    """F(y | x) with the configured fusion of x and y."""
    if cfg.fusion == "film":
        return FiLMEnergy(1, context_dim=1, width=cfg.width, depth=cfg.depth, activation=cfg.activation)
    return MLPEnergy(1, width=cfg.width, depth=cfg.depth, activation=cfg.activation, context_dim=1)


def train_model(model: nn.Module, pairs: Pairs, cfg: ConditionalConfig, kind: str,
                log: ScalarLog | None = None) -> list[float]:
    """Train one model (`kind`: conditional, latent or regressor) in place; return the loss per 100 steps (and
    at the last), also written to `log` (metrics.csv rows `kind,step,loss,seconds`) when given."""
    update = GradientStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), what=f"{kind} model",
                          grad_clip=cfg.grad_clip)
    loss_fn = cfg.make_loss()
    negatives = None
    if kind != "regressor":
        spec = cfg.negatives if kind == "conditional" else cfg.latent_negatives
        negatives = parse_negatives(spec, pairs.box, perturb_sigma=cfg.perturb_sigma, hard_size=cfg.hard_size,
                                    hard_alpha=cfg.hard_alpha, hard_pool=cfg.hard_pool)
    device = pairs.x.device
    history = []
    t0 = time.perf_counter()
    for step in progress(range(cfg.steps), desc=f"train {kind}"):
        idx = torch.randint(len(pairs.x), (cfg.batch_size,), device=device)
        x, y = pairs.x[idx], pairs.y[idx]  # [B, 1], [B, 1]
        if negatives is None:
            loss = (model(x) - y).pow(2).mean()
        else:
            neg = negatives.sample(y, cfg.n_negatives, model, x)  # [B, n, 1]
            if kind == "latent":
                # [B], [B, 2n] (or [B, n]), [B, n]
                e_pos, e_neg, e_seen = latent_energies(model, y, x, neg, own_latent=cfg.latent_own_negatives)
            else:
                e_pos, e_neg = model(y, x), model.energies(neg, x)  # [B], [B, n]
                e_seen = e_neg
            loss = loss_fn(e_pos, e_neg)
        update(loss, step + 1)
        if negatives is not None:
            negatives.observe(neg, e_seen.detach(), e_pos.detach(), cfg.margin)
        if (step + 1) % 100 == 0 or step + 1 == cfg.steps:
            history.append(loss.item())
            if log is not None:
                log.write(step + 1, {"loss": history[-1], "seconds": f"{time.perf_counter() - t0:.3f}"}, model=kind)
    return history


# ----- prediction and scoring -----

def predictions(kind: str, model: nn.Module, x: torch.Tensor, box: Box,
                cfg: ConditionalConfig) -> dict[str, list[torch.Tensor]]:
    """Each held-out x's answers in both views (`VIEWS`): a list of [M_i] y values per view, and under
    `converged_fraction` (a float) the share of all answers whose descent converged."""
    descent = dict(steps=cfg.infer_steps, step_size=cfg.infer_step_size,
                   final_step_size=cfg.infer_final_step_size, max_move=cfg.infer_max_move)
    if kind == "regressor":
        with torch.no_grad():
            every = list(model(x).cpu())  # one [1] answer per x
        return {"all_answers": every, "converged_answers": every, "converged_fraction": 1.0}
    if kind == "latent":
        pred = predict_latent(model, x, box, samples=cfg.latent_samples, starts=cfg.latent_starts, **descent)
    else:
        pred = predict(model, x, box, starts=cfg.starts, **descent)
    rows = range(len(x))
    if kind == "deterministic":  # the single lowest-energy answer per x (among converged ones, in that view)
        best = pred.energy.argmin(1)  # [E]
        return {"all_answers": list(pred.samples[torch.arange(len(x)), best].cpu()),
                "converged_answers": [pred.answers(i)[:1, 0].cpu() for i in rows],
                "converged_fraction": pred.converged[torch.arange(len(x)), best].float().mean().item()}
    return {"all_answers": [pred.samples[i, :, 0].cpu() for i in rows],
            "converged_answers": [pred.answers(i)[:, 0].cpu() for i in rows],
            "converged_fraction": pred.converged.float().mean().item()}


def score(x: torch.Tensor, answers: list[torch.Tensor], curve: np.ndarray, radius: float) -> dict[str, float]:
    """Scores of the answers at held-out x [E, 1]: `precision`, the mean distance of every answer (x, y) to
    the curve; `mode_coverage`, the fraction of all (x, branch) pairs with an answer within `radius` in y;
    `modes_found`, the mean number of branches so reached per x (x with no branch are left out)."""
    xs = x[:, 0].cpu().numpy()
    points = np.concatenate([np.stack([np.full(len(a), xi), a.numpy()], 1)
                             for xi, a in zip(xs, answers, strict=True)])  # [P, 2]
    precision = float(cKDTree(curve).query(points)[0].mean())
    reached = total = 0
    found = []
    for branches, a in zip(branches_at(xs, curve), answers, strict=True):
        if len(branches) == 0:
            continue
        hit = (np.abs(branches[:, None] - a.numpy()[None, :]) <= radius).any(1)  # [n_branches]
        reached, total = reached + int(hit.sum()), total + len(branches)
        found.append(int(hit.sum()))
    return {"precision": precision, "mode_coverage": reached / max(total, 1),
            "modes_found": float(np.mean(found)) if found else 0.0,
            "branches_per_x": total / max(len(found), 1), "answers_per_x": len(points) / len(answers)}


# ----- the run -----

def build_models(cfg: ConditionalConfig) -> dict[str, nn.Module]:
    """The three untrained models, by kind."""
    return {
        "conditional": conditional_energy(cfg),
        "latent": LatentEnergy(1, context_dim=1, latent_dim=cfg.latent_dim, width=cfg.width, depth=cfg.depth,
                               activation=cfg.activation, candidates=cfg.latent_candidates,
                               latent_steps=cfg.latent_steps),
        "regressor": regressor(cfg.width, cfg.depth, cfg.activation),
    }


def run_conditional(cfg: ConditionalConfig, *, command: str = "conditional") -> Path:
    """Train the three models (or, with `cfg.resume`, those the run had not finished), score them on held-out
    x, and write the run folder."""
    run = Run.start(cfg, "conditional", command)
    cfg, device = run.config, run.device
    finished = run.finished_models()
    log = run.log(["loss", "seconds"], models=True, keep_models=set(finished.models) if run.resumed else None)
    pairs = spiral_pairs(cfg.seed, cfg.n_eval)
    pairs = Pairs(x=pairs.x.to(device), y=pairs.y.to(device), x_eval=pairs.x_eval.to(device),
                  box=(pairs.box[0].to(device), pairs.box[1].to(device)), curve=pairs.curve)
    seed_everything(cfg.seed)
    models = build_models(cfg)
    results: dict[str, dict] = {}
    answers: dict[str, dict] = {}
    for kind, model in models.items():
        model.to(device)
        if kind in finished:
            record = finished.load(kind, model)
        else:
            t0 = time.perf_counter()
            history = train_model(model, pairs, cfg, kind, log)
            record = {"train_seconds": time.perf_counter() - t0, "final_loss": history[-1]}
            finished.save(kind, model, record)
        run.save_weights(model, kind)
        model.eval()
        # Inference noise independent of training length; it also makes the next model's training start from
        # the same random state whether this one was trained now or loaded by a resumed run.
        torch.manual_seed(cfg.seed + 1)
        t0 = time.perf_counter()
        answers[kind] = predictions(kind, model, pairs.x_eval, pairs.box, cfg)
        results[kind] = {**scores(pairs, answers[kind], cfg.radius),
                         "train_seconds": record["train_seconds"], "predict_seconds": time.perf_counter() - t0,
                         "final_loss": record["final_loss"],
                         "parameters": sum(p.numel() for p in model.parameters())}
    log.close()
    torch.manual_seed(cfg.seed + 1)
    answers["deterministic"] = predictions("deterministic", models["conditional"], pairs.x_eval, pairs.box,
                                           cfg)
    results["deterministic"] = scores(pairs, answers["deterministic"], cfg.radius)
    metrics = {**results, "views": VIEW_NOTES, "held_out_x": len(pairs.x_eval), "radius": cfg.radius}
    run.write_metrics(metrics)
    (run.path / "summary.md").write_text(summary(metrics) + "\n")
    save_figure(run.path / "predictions.png", models["conditional"], pairs, answers, results)
    return run.path


def scores(pairs: Pairs, answers: dict, radius: float) -> dict:
    """One model's metrics.json entry: `score` of each view (`VIEWS`), the share of its answers that
    converged, and the converged view's scores again as flat keys (what the `ebmplan conditional` printout
    reads)."""
    views = {view: score(pairs.x_eval, answers[view], pairs.curve, radius) for view in VIEWS}
    return {**views["converged_answers"], **views, "converged_fraction": answers["converged_fraction"]}


def summary(metrics: dict) -> str:
    """A markdown table of a run's metrics.json: every model in both views, all answers first."""
    lines = ["| model | answers | precision | mode coverage | modes found / branches | answers per x |",
             "|---|---|---|---|---|---|"]
    for kind in KINDS:
        for view in VIEWS:
            r = metrics[kind][view]
            lines.append(f"| {kind} | {view.split('_')[0]} | {r['precision']:.4f} | {r['mode_coverage']:.3f} | "
                         f"{r['modes_found']:.2f} / {r['branches_per_x']:.2f} | {r['answers_per_x']:.1f} |")
    notes = metrics.get("views", VIEW_NOTES)
    lines += ["", f"all: {notes['all_answers']}.", f"converged: {notes['converged_answers']}."]
    return "\n".join(lines)


@dataclass
class ConditionalRun:
    """A `conditional` run rebuilt from its folder: `run.predict(x)` answers at x [E, 1]."""

    path: Path
    config: ConditionalConfig
    models: dict[str, nn.Module]  # conditional F(y | x), latent F(y | x, z), regressor x -> y
    box: Box  # the padded y range that prediction searches
    metrics: dict

    def predict(self, x: torch.Tensor, kind: str = "conditional",
                view: str = "converged_answers") -> list[torch.Tensor]:
        """Each x's answers, a list of [M_i] y values, by `kind` (conditional, latent, deterministic or
        regressor) and `view` (all_answers or converged_answers), as in metrics.json."""
        choose("model", kind, KINDS)
        choose("view", view, VIEWS)
        model = self.models["conditional" if kind == "deterministic" else kind]
        return predictions(kind, model, x, self.box, self.config)[view]


@loader("conditional")
def load_conditional_run(path: Path) -> ConditionalRun:
    cfg = saved_config(path, ConditionalConfig, "conditional")
    models = build_models(cfg)
    for kind, model in models.items():
        load_weights(path / f"{kind}.safetensors", model)
        model.eval()
    metrics_path = path / "metrics.json"
    return ConditionalRun(path=path, config=cfg, models=models, box=spiral_pairs(cfg.seed, cfg.n_eval).box,
                          metrics=read_json(metrics_path) if metrics_path.exists() else {})


@torch.no_grad()
def energy_grid(energy: EnergyModel, low: torch.Tensor, high: torch.Tensor,
                resolution: int = 160) -> torch.Tensor:
    """F(y | x) on a grid over the plane, shifted so each column (each x) has minimum 0: [R_y, R_x]."""
    device = next(energy.parameters()).device
    xs = torch.linspace(low[0].item(), high[0].item(), resolution, device=device)
    ys = torch.linspace(low[1].item(), high[1].item(), resolution, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    e = energy(gy.reshape(-1, 1), gx.reshape(-1, 1)).reshape(resolution, resolution)
    return (e - e.min(0, keepdim=True).values).cpu()  # p(y | x) is what a column shows


def save_figure(path: Path, energy: EnergyModel, pairs: Pairs, answers: dict[str, dict],
                results: dict[str, dict]) -> None:
    """One panel per model: its answers at held-out x over the true curve (all in grey, the converged ones in
    green); the energy F(y | x) behind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low = torch.tensor([pairs.curve[:, 0].min() - 0.2, pairs.box[0][0].item()])
    high = torch.tensor([pairs.curve[:, 0].max() + 0.2, pairs.box[1][0].item()])
    e = energy_grid(energy, low, high)
    extent = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
    titles = {"conditional": "conditional EBM F(y | x), all minima",
              "latent": "latent EBM F(y | x, z), one per z",
              "deterministic": "conditional EBM, lowest minimum only", "regressor": "MSE regressor"}
    fig, axes = plt.subplots(1, len(titles), figsize=(4.2 * len(titles), 4.4))
    xs = pairs.x_eval[:, 0].cpu()
    for ax, (kind, title) in zip(axes, titles.items(), strict=True):
        ax.imshow(e.clamp(max=float(torch.quantile(e, 0.9))).numpy(), origin="lower", extent=extent,
                  cmap="magma", aspect="auto", alpha=0.9)
        ax.plot(*pairs.curve.T, c="#1f77b4", lw=0.8, label="true curve")
        for view, colour, label in (("all_answers", "#bbbbbb", "all answers"),
                                    ("converged_answers", "#2ca02c", "converged answers")):
            px = torch.cat([xi.expand(len(a)) for xi, a in zip(xs, answers[kind][view], strict=True)])
            py = torch.cat([a.reshape(-1) for a in answers[kind][view]])
            ax.scatter(px.numpy(), py.numpy(), s=4, c=colour, linewidths=0, label=label)
        a, c = results[kind]["all_answers"], results[kind]["converged_answers"]
        ax.set_title(f"{title}\nall: precision {a['precision']:.3f}, mode coverage {a['mode_coverage']:.2f}\n"
                     f"converged: precision {c['precision']:.3f}, mode coverage {c['mode_coverage']:.2f}",
                     fontsize=8)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        ax.set_xlabel("x (condition)")
    axes[0].set_ylabel("y (predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
