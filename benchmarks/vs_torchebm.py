"""ebmplan against TorchEBM on the 2D suite, each library with its own sampler; sampling speed and the limit.

- quality and time to quality (`--section tune`, `quality`, `report`): on suite sets (`--sets`), seeds 1, 2, 3,
  the same network (3 hidden layers of 128 SiLU units, the same initial weights per seed), batch 256, one
  thread, the same budget of training time. ebmplan runs its default recipe step for step as `ebmplan train`
  does (`ContrastiveFit`: standardised and zoomed data, weight average, validation every 100 steps with early
  stopping, all inside the clock; the checks re-seed the sampler, so the random stream is not `ebmplan
  train`'s), and its samples come from its own gradient descent (`infer_samples`).
  TorchEBM runs its contrastive divergence (`ContrastiveDivergence`, k = 10 Langevin steps, Adam 1e-3) on the
  data standardised per column (its replay buffer starts from N(0, I)), and its samples come from its own
  `LangevinDynamics` with its training settings, 500 steps from uniform noise over the padded box, clamped to
  the box after every step (`clamp`, then per axis at the end); TorchEBM's documented defaults (its examples'
  step 0.1, noise 1.0, energy L2 0.001, plain CD) and its best settings, chosen by `--section tune` on tuning
  seed 0 from a grid over step size, noise, energy L2 and persistent vs plain CD. Every library's samples, in
  the data's units, are scored by the same `ebmplan.points.metrics` code (docs/protocol.md §2). The training clock
  stops while a check samples and scores (300 samples at fixed times of training); the final figures use
  1000 samples. On one thread the training clock is the process's CPU time, so other jobs on a shared machine
  do not count against either library.
- inference: chain-steps/s of ebmplan's gradient descent and Langevin (`descend`, no chain stops early:
  tol = 0) against TorchEBM's `LangevinDynamics.sample`, at 256 and 4096 chains, widths 32, 128, 512.
- the limit: GFLOP/s of each sampler (forward plus input gradient, matrix products only), of the same matrix
  products of one chain-step timed alone (no element-wise work, no autograd): the most any implementation of
  this network could reach at that width and batch on this machine, and of the same products with one
  `torch.sigmoid` per hidden unit, the least element-wise work a SiLU network's gradient needs; each as a
  share of a 2048 x 2048 float32 matrix product. The reference is timed right after every timed call
  (A, ref, B, ref, ...), each share is the median over repeats of call / adjacent reference, printed with
  its min-max over repeats, so drift of the machine between calls cancels instead of landing in the ratio.

    python benchmarks/vs_torchebm.py --threads 1 --section inference
    python benchmarks/vs_torchebm.py --threads 1 --section tune --sets spiral 8gaussians --budget 10 \
        --final-samples 300 --out tune.jsonl
    python benchmarks/vs_torchebm.py --threads 1 --section quality --sets spiral \
        --best step_size=0.1,noise_scale=0.1,l2=0.001,persistent=0 --out spiral.jsonl
    python benchmarks/vs_torchebm.py --section report --results spiral.jsonl
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ebmplan.common.runs import resolve_device, seed_everything
from ebmplan.energy.inference import descend
from ebmplan.energy.models import MLPEnergy
from ebmplan.energy.negatives import uniform_in
from ebmplan.experiments.suite import COVERAGE, QUALITY
from ebmplan.points import metrics
from ebmplan.points.contrastive_fit import ContrastiveFit
from ebmplan.points.toy2d import PointData, load_data
from ebmplan.points.train import build_energy, infer_samples
from ebmplan.points.train_config import TrainConfig

try:
    from torchebm.core import BaseModel
    from torchebm.losses import ContrastiveDivergence
    from torchebm.samplers import LangevinDynamics
except ImportError:
    sys.exit("this benchmark needs TorchEBM: pip install 'ebmplan[bench]'")

# TorchEBM's documented recipe (its examples 20-training/01-mcmc-losses: CD-10, LangevinDynamics(step_size=0.1,
# noise_scale=1.0), Adam 1e-3, batch 256; the loss's own default energy L2 0.001) and the grid searched for its
# best settings on tuning seed 0 (persistent CD as in its example 02-persistent-cd: a buffer of 8192 chains).
TORCHEBM_DEFAULT = dict(step_size=0.1, noise_scale=1.0, l2=0.001, persistent=False)
TORCHEBM_GRID = dict(step_size=(0.01, 0.1), noise_scale=(0.1, 1.0), l2=(0.001, 0.1), persistent=(False, True))
CHECKS = (1, 2, 4, 7, 12, 18, 25)  # seconds of training at which samples are scored, for a 25 s budget
CHAIN_STEPS = {32: 200_000, 128: 50_000, 512: 8_000}  # chain-steps per timed call, by width


class TorchEBMNet(BaseModel):
    """TorchEBM's model class around the very network ebmplan uses (same layers, same weights)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def twin_models(width: int, seed: int, device: torch.device) -> tuple[MLPEnergy, TorchEBMNet]:
    torch.manual_seed(seed)
    ours = MLPEnergy(2, width=width, depth=3, activation="silu").to(device)
    return ours, TorchEBMNet(copy.deepcopy(ours.net)).to(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, sync: Callable[[], None],
                ref: Callable[[], object] | None = None) -> dict[str, list[float]]:
    """Seconds per call of each function, one per repeat, timed in alternation after one warm-up call each.
    With `ref`, the reference is also timed right after every function (A, ref, B, ref, ...), under the key
    "ref " + name, so each call has its own reference, measured under the same load."""
    if ref is not None:
        fns = {k: g for name, f in fns.items() for k, g in ((name, f), ("ref " + name, ref))}
    for f in dict.fromkeys(fns.values()):
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def spread(values: list[float], spec: str, unit: str = "") -> str:
    """Median [min-max]."""
    return f"{statistics.median(values):{spec}}{unit} [{min(values):{spec}}-{max(values):{spec}}]"


# ---------------------------------------------------------------------------------------------- inference
def gradient_flops(width: int, depth: int = 3, dim: int = 2) -> int:
    """Matrix-product FLOPs of one chain-step: the forward pass and the gradient with respect to the input."""
    forward = 2 * (dim * width + (depth - 1) * width * width + width)
    backward = 2 * ((depth - 1) * width * width + width * dim)
    return forward + backward


MATMUL = 2048  # the reference: an n x n float32 matrix product, 2 n^3 FLOPs


def limit_calls(width: int, chains: int, steps: int, device: torch.device) -> dict[str, Callable[[], object]]:
    """`steps` chain-steps' matrix products alone (`gradient_flops`' shapes, depth 3), back to back; and the
    same products plus the one sigmoid per hidden unit that any SiLU network's gradient needs (SiLU and its
    derivative both read sigmoid(z); nothing else element-wise)."""
    def t(*shape):
        return torch.randn(*shape, device=device)

    x, h, w_in, w, b, w_out = t(chains, 2), t(chains, width), t(width, 2), t(width, width), t(width), t(1, width)

    def products():
        for _ in range(steps):
            torch.addmm(b, x, w_in.t()), torch.addmm(b, h, w.t()), torch.addmm(b, h, w.t()), h @ w_out.t()
            h @ w, h @ w, h @ w_in

    def with_sigmoids():
        for _ in range(steps):
            torch.sigmoid(torch.addmm(b, x, w_in.t())), torch.sigmoid(torch.addmm(b, h, w.t()))
            torch.sigmoid(torch.addmm(b, h, w.t())), h @ w_out.t()
            h @ w, h @ w, h @ w_in

    return {"products": products, "sigmoids": with_sigmoids}


def inference_calls(ours: MLPEnergy, sampler: LangevinDynamics, x0: torch.Tensor, steps: int,
                    box: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Callable[[], object]]:
    """The three samplers, same start, same step size and (for Langevin) the same noise scale."""
    return {
        "ebmplan descent": lambda: descend(ours, x0, steps=steps, step_size=1e-3, tol=0.0, box=box),
        "ebmplan langevin": lambda: descend(ours, x0, steps=steps, step_size=1e-3, tol=0.0, box=box,
                                            noise=0.05),
        "torchebm langevin": lambda: sampler.sample(x=x0, n_steps=steps),
    }


def bench_inference(data: PointData, device: torch.device, sync, repeats: int, quick: bool) -> list[dict]:
    """Per width and chain count, per repeat: chain-steps/s of each sampler, GFLOP/s of every timed call and
    of the reference matmul timed right after it."""
    box = (data.low.to(device), data.high.to(device))
    a, b = torch.randn(MATMUL, MATMUL, device=device), torch.randn(MATMUL, MATMUL, device=device)
    rows = []
    for width in (32, 128, 512):
        for chains in (256, 4096):
            ours, theirs = twin_models(width, 0, device)
            x0 = uniform_in(box, (chains,))
            # About 0.1-0.5 s per call on a laptop core; fewer steps when asked to be quick.
            steps = max(2, CHAIN_STEPS[width] // chains // (10 if quick else 1))
            sampler = LangevinDynamics(theirs, step_size=1e-3, noise_scale=0.05, device=device)
            calls = {**inference_calls(ours, sampler, x0, steps, box), **limit_calls(width, chains, steps, device)}
            t = interleaved(calls, repeats, sync, ref=lambda: a @ b)
            row = {"width": width, "chains": chains, "steps": steps}
            for k in calls:  # per repeat: chain-steps/s, GFLOP/s, and the adjacent reference's GFLOP/s
                row[k] = [chains * steps / s for s in t[k]]
                row[k + " gflops"] = [r * gradient_flops(width) / 1e9 for r in row[k]]
                row[k + " ref"] = [2 * MATMUL**3 / s / 1e9 for s in t["ref " + k]]
            rows.append(row)
            print(f"  width {width:4d} chains {chains:5d}: " + "  ".join(
                f"{k} {statistics.median(row[k]) / 1e6:.3f}M/s" for k in calls), flush=True)
    return rows


SAMPLERS = ("ebmplan descent", "ebmplan langevin", "torchebm langevin")


def inference_table(rows: list[dict]) -> list[str]:
    """Median absolute figures; every ratio as the median of its per-repeat ratios [min-max over repeats]."""
    def share(r: dict, k: str) -> str:
        pct = [100 * g / m for g, m in zip(r[k + " gflops"], r[k + " ref"], strict=True)]
        return f"{statistics.median(r[k + ' gflops']):.1f} ({spread(pct, '.0f', '%')})"

    lines = ["| width | chains | chain-steps/s: ebmplan descent | ebmplan Langevin | TorchEBM Langevin "
             "| Langevin ratio | GFLOP/s (% of matmul): ebmplan descent | ebmplan Langevin | TorchEBM Langevin "
             "| same products alone | products + one sigmoid per unit | matmul GFLOP/s |",
             "|---" * 12 + "|"]
    for r in rows:
        ratio = [o / t for o, t in zip(r["ebmplan langevin"], r["torchebm langevin"], strict=True)]
        timed = (*SAMPLERS, "products", "sigmoids")
        cells = [str(r["width"]), str(r["chains"])]
        cells += [f"{statistics.median(r[k]) / 1e6:.3f} M" for k in SAMPLERS]
        cells += [spread(ratio, ".2f", "x")] + [share(r, k) for k in timed]
        cells += [spread([g for k in timed for g in r[k + " ref"]], ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ----------------------------------------------------------------------------------------------- training
def family(data: PointData) -> str:
    return data.truth.family


def scores(samples: torch.Tensor, data: PointData) -> dict[str, float]:
    """The protocol's measures of samples in the data's units: precision, coverage and the family's own."""
    samples = samples.detach().cpu()
    return {"precision": metrics.precision(samples, data.reference),
            "coverage": metrics.coverage(samples, data.reference), **metrics.family_measures(samples, data.truth)}


def as_good(m: dict, target: dict, fam: str) -> bool:
    """Whether measures `m` are at least as good as `target` in both of the family's headline measures."""
    q, c = QUALITY[fam], COVERAGE[fam]
    better_q = m[q] <= target[q] if q == "precision" else m[q] >= target[q]
    return better_q and m[c] >= target[c]


class EbmplanRecipe:
    """ebmplan's default recipe exactly as `ebmplan train` runs it (`ContrastiveFit`, without the run folder):
    standardised data, the default negatives and loss, the weight average, a validation check every
    `log_every` steps and early stopping, all inside the clock; the model is the best average seen."""

    name = "ebmplan"

    def __init__(self, data: PointData, seed: int, device: torch.device, **overrides):
        self.cfg = cfg = TrainConfig(data=data.name, seed=seed, **overrides)
        seed_everything(seed)
        self.fit = ContrastiveFit(cfg, data, build_energy(cfg, data.dim).to(device))
        self.data = data

    @property
    def stopped(self) -> bool:
        return self.fit.finished

    @property
    def steps(self) -> int:
        return self.fit.step

    def step(self) -> None:
        if self.fit.train_step():  # the validation check is part of the recipe
            self.fit.check()

    def samples(self, n: int) -> torch.Tensor:
        return self.data.to_data(infer_samples(self.fit.kept(), self.data, self.cfg, n).samples.cpu())

    def nll(self) -> float:
        data, low, high = self.data, *self.data.model_box
        out = metrics.nll(self.fit.kept().cpu(), data.to_model(data.val), data.to_model(data.test), low, high)
        return out["nll"] + float(torch.log(data.scale).sum())


class TorchEBMRecipe:
    """TorchEBM's contrastive divergence on the data standardised per column, sampled by its own Langevin."""

    def __init__(self, data: PointData, seed: int, device: torch.device, *, name: str, step_size: float,
                 noise_scale: float, l2: float, persistent: bool, k: int = 10, lr: float = 1e-3,
                 batch_size: int = 256, sample_steps: int = 500):
        self.name, self.data, self.batch_size, self.sample_steps = name, data, batch_size, sample_steps
        self.mean, self.std = data.train.mean(0), data.train.std(0)
        seed_everything(seed)  # the same initial weights as ebmplan's model of this seed
        self.model = TorchEBMNet(build_energy(TrainConfig(seed=seed), data.dim).net).to(device)
        self.box = tuple(self.standard(b).to(device) for b in (data.low, data.high))
        self.sampler = LangevinDynamics(self.model, step_size=step_size, noise_scale=noise_scale,
                                        clamp=(float(self.box[0].min()), float(self.box[1].max())), device=device)
        self.loss = ContrastiveDivergence(self.model, self.sampler, k_steps=k, persistent=persistent,
                                          buffer_size=8192, energy_reg_weight=l2, device=device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.train_x, self.steps, self.stopped = self.standard(data.train).to(device), 0, False

    def standard(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def step(self) -> None:
        batch = self.train_x[torch.randint(len(self.train_x), (self.batch_size,), device=self.train_x.device)]
        loss, _ = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.steps += 1

    def samples(self, n: int) -> torch.Tensor:
        """TorchEBM's own Langevin sampler, its training settings, from uniform noise over the padded box."""
        self.model.eval()
        out = self.sampler.sample(x=uniform_in(self.box, (n,)), n_steps=self.sample_steps)
        self.model.train()
        out = torch.maximum(torch.minimum(out, self.box[1]), self.box[0]).cpu()
        return out * self.std + self.mean

    def nll(self) -> float:
        data, (low, high) = self.data, (b.cpu() for b in self.box)
        out = metrics.nll(self.model.cpu(), self.standard(data.val), self.standard(data.test), low, high)
        return out["nll"] + float(torch.log(self.std).sum())


def train_for(recipe, budget: float, checks: tuple[float, ...], n_check: int, n_final: int, seed: int,
              sync, clock: Callable[[], float]) -> dict:
    """Train for `budget` seconds of training time on `clock` (or until the recipe stops itself), scoring
    `n_check` samples at each time in `checks` (the clock paused), then `n_final` samples and the NLL."""
    data, fam = recipe.data, family(recipe.data)
    trained, curve, pending = 0.0, [], [c for c in checks if c <= budget]

    def check() -> None:
        torch.manual_seed(seed + 1)
        m = scores(recipe.samples(n_check), data)
        curve.append({"seconds": round(trained, 2), "steps": recipe.steps, **m})

    while trained < budget and not recipe.stopped:
        sync()
        t0 = clock()
        for _ in range(10):
            recipe.step()
            if recipe.stopped:
                break
        sync()
        trained += clock() - t0
        while pending and trained >= pending[0]:
            pending.pop(0)
            check()
    if not curve or curve[-1]["steps"] != recipe.steps:
        check()
    torch.manual_seed(seed + 1)
    final = scores(recipe.samples(n_final), data)
    return {"set": data.name, "family": fam, "seed": seed, "recipe": recipe.name, "seconds": trained,
            "steps": recipe.steps, "ms_per_step": 1e3 * trained / max(recipe.steps, 1), "curve": curve,
            "nll": recipe.nll(), **final}


def torchebm_name(options: dict) -> str:
    return (f"torchebm (step {options['step_size']:g}, noise {options['noise_scale']:g}, L2 {options['l2']:g}, "
            f"{'PCD' if options['persistent'] else 'CD'})")


def score(r: dict) -> float:
    """One number for the tuning: the family's quality share times its coverage share (1 = ideal)."""
    if r["family"] == "curve":
        return min(1.0, 0.05 / max(r["precision"], 1e-9)) * r["coverage"]
    if r["family"] == "mixture":
        return r["high_quality"] * r["modes_covered"] / r["modes"]
    return r["in_support"] * r["cells_hit"]


# ------------------------------------------------------------------------------------------------- report
def headline(r: dict) -> str:
    q, c = QUALITY[r["family"]], COVERAGE[r["family"]]
    if c == "modes_covered":
        return f"{r[q]:.3f} / {r[c]:.0f}"
    return f"{r[q]:.3f} / {r[c]:.3f}"


def first_reached(curve: list[dict], target: dict, fam: str) -> tuple[float, float] | None:
    """(time of the last check before the first that is as good as `target`, time of that check); None if none."""
    for i, c in enumerate(curve):
        if as_good(c, target, fam):
            return (curve[i - 1]["seconds"] if i else 0.0), c["seconds"]
    return None


def ratio(theirs: tuple[float, float], mine: tuple[float, float] | None) -> str:
    """TorchEBM's time over ebmplan's, with the bounds the check times allow."""
    if mine is None:
        return "-"
    if theirs[0] == 0.0:
        return "both at the first check" if mine[0] == 0.0 else f"{theirs[1] / mine[1]:.1f}x"
    high = "inf" if mine[0] == 0.0 else f"{theirs[1] / mine[0]:.1f}"
    return f"{theirs[1] / mine[1]:.1f}x ({theirs[0] / mine[1]:.1f}-{high})"


def at_time(curve: list[dict], seconds: float) -> dict:
    """The last check at or before `seconds` of training (the first check if none)."""
    before = [c for c in curve if c["seconds"] <= seconds + 1e-9]
    return before[-1] if before else curve[0]


def report(rows: list[dict]) -> list[str]:
    """Per set: each recipe's final figures (median over seeds), and ebmplan's time to reach each TorchEBM
    recipe's final quality (paired by seed, on the checks' samples) against TorchEBM's own time to it."""
    out = ["| set | recipe | quality / coverage at the end (median of seeds) | worst seed | NLL | steps | "
           "train s | ms/step | time to its own final quality (median) |",
           "|---|---|---|---|---|---|---|---|---|"]
    sets = list(dict.fromkeys(r["set"] for r in rows))
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    vs = []
    for s in sets:
        for name in recipes:
            rs = [r for r in rows if r["set"] == s and r["recipe"] == name]
            if not rs:
                continue
            fam = rs[0]["family"]
            q, c = QUALITY[fam], COVERAGE[fam]
            med = {k: statistics.median(r[k] for r in rs) for k in (q, c, "nll", "steps", "seconds", "ms_per_step")}
            worst = (max if q == "precision" else min)(rs, key=lambda r: r[q])
            own = [first_reached(r["curve"], r["curve"][-1], fam)[1] for r in rs]
            own_s = statistics.median(own)
            out.append(f"| {s} | {name} | {headline({**med, 'family': fam})} | {headline(worst)} (seed "
                       f"{worst['seed']}) | {med['nll']:.3f} | {med['steps']:.0f} | {med['seconds']:.1f} | "
                       f"{med['ms_per_step']:.1f} | {own_s:.0f} s |")
        ours = {r["seed"]: r for r in rows if r["set"] == s and r["recipe"] == "ebmplan"}
        for name in recipes:
            if name == "ebmplan":
                continue
            for r in (r for r in rows if r["set"] == s and r["recipe"] == name and r["seed"] in ours):
                fam, e = r["family"], ours[r["seed"]]
                target = r["curve"][-1]
                theirs = first_reached(r["curve"], target, fam)
                mine = first_reached(e["curve"], target, fam)
                equal = at_time(r["curve"], e["curve"][-1]["seconds"])
                vs.append(f"| {s} | {name} | {r['seed']} | {headline({**target, 'family': fam})} | "
                          f"{theirs[1]:.0f} s | {'not reached' if mine is None else f'{mine[1]:.0f} s'} | "
                          f"{ratio(theirs, mine)} | "
                          f"{headline({**e['curve'][-1], 'family': fam})} vs {headline({**equal, 'family': fam})} "
                          f"at {e['curve'][-1]['seconds']:.0f} s |")
    out += ["", "| set | TorchEBM recipe | seed | its final quality / coverage (last check) | TorchEBM reached it "
            "at | ebmplan reached it at | ratio (bounds from the check times) "
            "| at ebmplan's end: ebmplan vs TorchEBM |", "|---" * 8 + "|"] + vs
    return out



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--section", nargs="+", choices=("inference", "tune", "quality", "report"),
                        default=["inference"])
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats of each timing")
    parser.add_argument("--sets", nargs="+", default=["spiral", "8gaussians", "moons", "checkerboard"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="quality: reported seeds")
    parser.add_argument("--tune-seed", type=int, default=0, help="tune: the tuning seed")
    parser.add_argument("--budget", type=float, default=25.0, help="training seconds per run")
    parser.add_argument("--best", default="", help="quality: TorchEBM's best settings, as tune printed them, "
                        "e.g. step_size=0.1,noise_scale=0.1,l2=0.1,persistent=1")
    parser.add_argument("--check-samples", type=int, default=300)
    parser.add_argument("--final-samples", type=int, default=1000)
    parser.add_argument("--out", default="runs/vs_torchebm.jsonl", help="tune, quality: rows appended here")
    parser.add_argument("--results", nargs="*", default=[], help="report: the files quality wrote")
    parser.add_argument("--quick", action="store_true", help="tiny budgets, to check that it runs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if args.quick:
        args.repeats, args.budget, args.check_samples, args.final_samples = 1, 2.0, 50, 100
    if args.section == ["report"]:
        rows = [json.loads(line) for f in args.results for line in Path(f).read_text().splitlines() if line]
        print("\n".join(report(rows)))
        return
    import torchebm

    print(f"ebmplan vs TorchEBM {torchebm.__version__} | torch {torch.__version__} | {device} | "
          f"{torch.get_num_threads()} threads | {platform.processor() or platform.machine()}")
    omp = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    print(f"command: {omp}python {' '.join(sys.argv)}  # {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    checks = tuple(c * args.budget / 25 for c in CHECKS)
    # On one thread the process's CPU time is its training time, whatever else the shared machine runs; a GPU
    # runs asynchronously, so there it is the wall clock (with synchronisation).
    clock = time.process_time if device.type == "cpu" and torch.get_num_threads() == 1 else time.perf_counter
    print(f"training clock: {clock.__name__}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def run(recipe, seed: int, checks: tuple[float, ...]) -> dict:
        r = train_for(recipe, args.budget, checks, args.check_samples, args.final_samples, seed, sync, clock)
        with out.open("a") as f:
            f.write(json.dumps(r) + "\n")
        print(f"  {r['set']} seed {seed} {r['recipe']}: {headline(r)} (quality / coverage), NLL {r['nll']:.3f}, "
              f"{r['steps']} steps in {r['seconds']:.1f} s", flush=True)
        return r

    if "inference" in args.section:
        data = load_data("spiral")
        print("inference throughput (chain-steps/s, median of alternating runs):", flush=True)
        rows = bench_inference(data, device, sync, args.repeats, args.quick)
        print(f"\nInference, {args.repeats} repeats: absolute figures are medians; ratios and shares are "
              f"medians of per-repeat ratios [min-max]; each share divides a call's GFLOP/s by a "
              f"{MATMUL} x {MATMUL} float32 matmul timed right after it (matmul column: median "
              f"[min-max] of all its timings in the row).\n")
        print("\n".join(inference_table(rows)) + "\n", flush=True)

    if "tune" in args.section:  # TorchEBM's grid on the tuning seed, final samples only
        keys = list(TORCHEBM_GRID)
        grid = [dict(zip(keys, values, strict=True)) for values in itertools.product(*TORCHEBM_GRID.values())]
        results: dict[str, list[float]] = {}
        for options in grid:
            for name in args.sets:
                data = load_data(name, seed=args.tune_seed)
                r = run(TorchEBMRecipe(data, args.tune_seed, device, name=torchebm_name(options), **options),
                        args.tune_seed, (args.budget,))
                results.setdefault(json.dumps(options), []).append(score(r))
        print("\n| TorchEBM settings | score per set (" + ", ".join(args.sets) + ") | mean |\n|---|---|---|")
        for options, values in sorted(results.items(), key=lambda kv: -statistics.mean(kv[1])):
            print(f"| {torchebm_name(json.loads(options))} | {', '.join(f'{v:.2f}' for v in values)} | "
                  f"{statistics.mean(values):.3f} |")
        best = json.loads(max(results, key=lambda k: statistics.mean(results[k])))
        print("\nbest: --best " + ",".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in best.items()))

    if "quality" in args.section:
        best = {}
        for item in filter(None, args.best.split(",")):
            key, _, value = item.partition("=")
            best[key] = bool(int(value)) if key == "persistent" else float(value)
        configs = [TORCHEBM_DEFAULT] + ([best] if best else [])
        for name in args.sets:
            for seed in args.seeds:
                data = load_data(name, seed=seed)
                run(EbmplanRecipe(data, seed, device), seed, checks)
                for i, options in enumerate(configs):
                    label = ("TorchEBM defaults " if i == 0 else "TorchEBM best ") + torchebm_name(options)[9:]
                    run(TorchEBMRecipe(data, seed, device, name=label, **options), seed, checks)


if __name__ == "__main__":
    main()
