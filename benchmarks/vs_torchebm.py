"""ebmplan against TorchEBM on the spiral, in one process: time to quality, step cost, sampling speed, limit.

Both libraries get the same data (`load_data("spiral")`), the same network (3 hidden layers of 128 SiLU units,
identical initial weights) and the same batch (256). Runs alternate between the libraries and figures are
medians, so a noisy shared machine slows both alike; the ratios are the result.

- time to quality: wall time (training only; evaluation pauses the clock) until samples reach precision
  <= 0.15. ebmplan runs its default recipe (`TrainConfig()`); TorchEBM runs CD-10 (Langevin chains started at
  the data, the loss `ContrastiveDivergence` with its energy L2). Every model, from either library, is sampled
  the same way (`ebmplan.train.infer_samples`: `descend` with the default recipe's inference settings, from
  uniform noise over the padded box: docs/protocol.md §2) and measured by the same `ebmplan.metrics` code.
  At the end of the common wall-time budget TorchEBM's model is also sampled by its own Langevin sampler.
- training step cost: ms per optimizer step of each recipe.
- inference: chain-steps/s of ebmplan's gradient descent and Langevin (`descend`, no chain stops early:
  tol = 0) against TorchEBM's `LangevinDynamics.sample`, at 256 and 4096 chains, widths 32, 128, 512.
- the limit: GFLOP/s of each sampler (forward plus input gradient, matrix products only), of the same matrix
  products of one chain-step timed alone (no element-wise work, no autograd): the most any implementation of
  this network could reach at that width and batch on this machine, and of the same products with one
  `torch.sigmoid` per hidden unit, the least element-wise work a SiLU network's gradient needs; each as a
  share of a 2048 x 2048 float32 matrix product. The reference is timed right after every timed call
  (A, ref, B, ref, ...), each share is the median over repeats of call / adjacent reference, printed with
  its min-max over repeats, so drift of the machine between calls cancels instead of landing in the ratio.

    python benchmarks/vs_torchebm.py
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from ebmplan import metrics
from ebmplan.data.toy2d import PointData, load_data
from ebmplan.energy.inference import descend
from ebmplan.energy.models import MLPEnergy
from ebmplan.energy.negatives import parse_negatives, uniform_in
from ebmplan.runs import resolve_device
from ebmplan.train import TrainConfig, infer_samples

try:
    from torchebm.core import BaseModel
    from torchebm.losses import ContrastiveDivergence
    from torchebm.samplers import LangevinDynamics
except ImportError:
    sys.exit("this benchmark needs TorchEBM: pip install 'ebmplan[bench]'")

TARGET_PRECISION = 0.15
STRICT_PRECISION = 0.08  # a harder bar: 0.15 is reached by pulling samples roughly towards the arms
# TorchEBM's CD-10, two Langevin settings picked by a small sweep on this spiral (k = 10, Adam 1e-3,
# energy L2 0.1): step 0.1 / noise 0.1 improves steadily; step 0.01 / noise 1 (T = 1) reaches good precision
# sooner but then drifts. Both are timed, so TorchEBM is credited with whichever is faster.
TORCHEBM_CONFIGS = {"torchebm (step 0.1, noise 0.1)": dict(step_size=0.1, noise_scale=0.1),
                    "torchebm (step 0.01, noise 1)": dict(step_size=0.01, noise_scale=1.0)}
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


def as_ebmplan(model: TorchEBMNet) -> MLPEnergy:
    """The same weights behind ebmplan's class, to sample a TorchEBM-trained model by ebmplan's protocol."""
    energy = MLPEnergy(2, width=model.net[0].out_features, depth=3, activation="silu")
    energy.net.load_state_dict(model.net.state_dict())
    return energy.to(next(model.parameters()).device)


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
class EbmplanRecipe:
    """ebmplan's default recipe, step for step as `ebmplan.train.train` runs it (without the run folder)."""

    name = "ebmplan"

    def __init__(self, data: PointData, device: torch.device, seed: int, **overrides):
        self.cfg = cfg = dataclasses.replace(TrainConfig(), **overrides)
        self.energy, _ = twin_models(cfg.width, seed, device)
        self.optimizer = torch.optim.Adam(self.energy.parameters(), lr=cfg.lr)
        self.box = (data.low.to(device), data.high.to(device))
        self.negatives = parse_negatives(cfg.negatives, self.box, perturb_sigma=cfg.perturb_sigma,
                                         hard_size=cfg.hard_size, hard_alpha=cfg.hard_alpha,
                                         hard_refresh=cfg.hard_refresh, model_steps=cfg.model_steps,
                                         model_step_size=cfg.model_step_size, model_noise=cfg.model_noise)
        self.loss_fn = cfg.make_loss()
        self.train_x = data.train.to(device)

    def step(self) -> None:
        cfg = self.cfg
        pos = self.train_x[torch.randint(len(self.train_x), (cfg.batch_size,), device=self.train_x.device)]
        neg = self.negatives.sample(pos, cfg.n_negatives, self.energy)  # [B, n, D]
        e = self.energy(torch.cat([pos, neg.reshape(-1, pos.shape[1])]))  # [B + B*n]
        e_pos, e_neg = e[: cfg.batch_size], e[cfg.batch_size:].reshape(cfg.batch_size, -1)
        loss = self.loss_fn(e_pos, e_neg)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.energy.parameters(), cfg.grad_clip or float("inf"))
        self.optimizer.step()
        self.negatives.observe(neg, e_neg.detach(), e_pos.detach(), cfg.margin)

    def ebmplan_energy(self) -> MLPEnergy:
        return self.energy


class TorchEBMRecipe:
    """TorchEBM's CD-k: Langevin chains from the data batch, loss E(data) - E(samples) + L2 on energies."""

    def __init__(self, data: PointData, device: torch.device, seed: int, *, name: str = "torchebm",
                 k: int = 10, lr: float = 1e-3, step_size: float = 0.1, noise_scale: float = 0.1,
                 l2: float = 0.1, batch_size: int = 256):
        self.name = name
        _, self.model = twin_models(128, seed, device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.sampler = LangevinDynamics(self.model, step_size=step_size, noise_scale=noise_scale,
                                        device=device)
        self.loss = ContrastiveDivergence(self.model, self.sampler, k_steps=k, energy_reg_weight=l2,
                                          device=device)
        self.train_x, self.batch_size = data.train.to(device), batch_size
        self.box = (data.low.to(device), data.high.to(device))

    def step(self) -> None:
        batch = self.train_x[torch.randint(len(self.train_x), (self.batch_size,), device=self.train_x.device)]
        loss, _ = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def ebmplan_energy(self) -> MLPEnergy:
        return as_ebmplan(self.model)

    def own_samples(self, n: int, steps: int = 500) -> torch.Tensor:
        """TorchEBM's own Langevin sampler from uniform noise over the box, clamped to it."""
        x0 = uniform_in(self.box, (n,))
        self.model.eval()
        out = self.sampler.sample(x=x0, n_steps=steps)
        self.model.train()
        return out.clamp(self.box[0], self.box[1])


def sample_quality(energy: MLPEnergy, data: PointData, n: int, seed: int, samples: torch.Tensor | None = None,
                   nll: bool = False) -> dict[str, float]:
    """ebmplan's evaluation: `infer_samples` (descend from uniform noise, the default recipe's settings)."""
    if samples is None:
        torch.manual_seed(seed)
        samples = infer_samples(energy, data, TrainConfig(), n).samples
    samples = samples.detach().cpu()
    out = {"precision": metrics.precision(samples, data.reference),
           "coverage": metrics.coverage(samples, data.reference)}
    if nll:
        out.update(metrics.nll(energy.cpu(), data.val, data.test, data.low, data.high))
        energy.to(data.train.device)
    return out


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def train_for(recipe, data: PointData, budget: float, check_every: float, n_eval: int, seed: int,
              sync) -> dict:
    """Train for `budget` seconds of training time, checking precision every `check_every` seconds."""
    trained, steps, next_check, first_hit, strict_hit, curve = 0.0, 0, check_every, None, None, []
    while trained < budget:
        sync()
        t0 = time.perf_counter()
        for _ in range(10):
            recipe.step()
        sync()
        trained += time.perf_counter() - t0
        steps += 10
        if trained >= next_check or trained >= budget:
            next_check += check_every
            q = sample_quality(recipe.ebmplan_energy(), data, n_eval, seed)  # the clock is paused here
            curve.append((round(trained, 2), steps, round(q["precision"], 4)))
            if first_hit is None and q["precision"] <= TARGET_PRECISION:
                first_hit = (trained, steps)
            if strict_hit is None and q["precision"] <= STRICT_PRECISION:
                strict_hit = trained
    final = sample_quality(recipe.ebmplan_energy(), data, 2000, seed, nll=True)
    if isinstance(recipe, TorchEBMRecipe):
        own = sample_quality(recipe.ebmplan_energy(), data, 2000, seed, samples=recipe.own_samples(2000))
        final["own_sampler_precision"], final["own_sampler_coverage"] = own["precision"], own["coverage"]
    return {"time_to_quality": None if first_hit is None else first_hit[0],
            "steps_to_quality": None if first_hit is None else first_hit[1], "time_to_strict": strict_hit,
            "seconds": trained, "steps": steps, "ms_per_step": 1e3 * trained / steps, "curve": curve, **final}


# ------------------------------------------------------------------------------------------------- report
def median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if len(values) == len(runs) else None


def fmt(v: float | None, spec: str = ".3f") -> str:
    return "not reached" if v is None else format(v, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--section", nargs="+", choices=("inference", "train", "quality"),
                        default=["inference", "train", "quality"])
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats of each timing")
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per quality run")
    parser.add_argument("--check-every", type=float, default=2.5, help="training seconds between checks")
    parser.add_argument("--eval-samples", type=int, default=300, help="samples per precision check")
    parser.add_argument("--runs", type=int, default=2, help="quality runs per library (alternating seeds)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="change ebmplan's recipe, e.g. --set hard_refresh=0.05 (default: TrainConfig())")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first quality run")
    parser.add_argument("--quick", action="store_true", help="tiny budgets, to check that it runs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if args.quick:
        args.repeats, args.budget, args.check_every, args.runs = 1, 2.0, 1.0, 1
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        kind = type(getattr(TrainConfig(), key))
        overrides[key] = value if kind is str else kind(float(value)) if kind is int else kind(value)
    data = load_data("spiral")
    import torchebm

    print(f"ebmplan vs TorchEBM {torchebm.__version__} | torch {torch.__version__} | {device} | "
          f"{torch.get_num_threads()} threads | {platform.processor() or platform.machine()}")
    omp = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    print(f"command: {omp}python {' '.join(sys.argv)}  # {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"ebmplan recipe: TrainConfig() defaults{' with ' + str(overrides) if overrides else ''}")
    report: list[str] = []

    if "inference" in args.section:
        print("inference throughput (chain-steps/s, median of alternating runs):", flush=True)
        rows = bench_inference(data, device, sync, args.repeats, args.quick)
        report.append(f"Inference, {args.repeats} repeats: absolute figures are medians; ratios and shares are "
                      f"medians of per-repeat ratios [min-max]; each share divides a call's GFLOP/s by a "
                      f"{MATMUL} x {MATMUL} float32 matmul timed right after it (matmul column: median "
                      f"[min-max] of all its timings in the row).\n")
        report += inference_table(rows) + [""]

    if "train" in args.section:
        print("training step cost:", flush=True)
        ours, theirs = EbmplanRecipe(data, device, 0, **overrides), TorchEBMRecipe(data, device, 0)
        block = 2 if args.quick else 20
        t = {k: statistics.median(v) for k, v in interleaved(
            {"ebmplan": lambda: [ours.step() for _ in range(block)],
             "torchebm": lambda: [theirs.step() for _ in range(block)]}, args.repeats, sync).items()}
        report.append(f"training step: ebmplan {1e3 * t['ebmplan'] / block:.2f} ms, TorchEBM CD-10 "
                      f"{1e3 * t['torchebm'] / block:.2f} ms (ratio {t['torchebm'] / t['ebmplan']:.2f}x)\n")

    if "quality" in args.section:
        print(f"time to quality (precision <= {TARGET_PRECISION}), {args.runs} run(s) per recipe, "
              f"{args.budget:.0f} s of training each:", flush=True)
        runs: dict[str, list[dict]] = {"ebmplan": [], **{name: [] for name in TORCHEBM_CONFIGS}}
        for seed in range(args.first_seed, args.first_seed + args.runs):
            recipes = [EbmplanRecipe(data, device, seed, **overrides)]
            recipes += [TorchEBMRecipe(data, device, seed, name=name, **options)
                        for name, options in TORCHEBM_CONFIGS.items()]
            for recipe in recipes:
                result = train_for(recipe, data, args.budget, args.check_every, args.eval_samples, seed, sync)
                runs[recipe.name].append(result)
                print(f"  {recipe.name} seed {seed}: reached at {fmt(result['time_to_quality'], '.1f')} s "
                      f"({result['steps_to_quality']} steps); curve (s, steps, precision) {result['curve']}",
                      flush=True)
        uniform = runs["ebmplan"][0]["nll_uniform"]
        report.append(f"| recipe | time to precision <= {TARGET_PRECISION} | steps "
                      f"| to <= {STRICT_PRECISION} | ms/step | at "
                      f"{args.budget:.0f} s: precision | coverage | NLL (uniform {uniform:.2f})"
                      " | own Langevin sampler: precision / coverage |")
        report.append("|---|---|---|---|---|---|---|---|---|")
        for name, rs in runs.items():
            hits = sum(r["time_to_quality"] is not None for r in rs)
            reached = (f"{median_of(rs, 'time_to_quality'):.1f} s" if hits == len(rs)
                       else f"reached in {hits} of {len(rs)} runs")
            steps = fmt(median_of(rs, "steps_to_quality"), ".0f") if hits == len(rs) else "-"
            own = "-"
            if "own_sampler_precision" in rs[0]:
                own = (f"{median_of(rs, 'own_sampler_precision'):.3f} / "
                       f"{median_of(rs, 'own_sampler_coverage'):.3f}")
            strict = sum(r["time_to_strict"] is not None for r in rs)
            strict = (f"{median_of(rs, 'time_to_strict'):.1f} s" if strict == len(rs)
                      else f"reached in {strict} of {len(rs)} runs")
            report.append(f"| {name} | {reached} | {steps} | {strict} | {median_of(rs, 'ms_per_step'):.1f} | "
                          f"{median_of(rs, 'precision'):.3f} | {median_of(rs, 'coverage'):.3f} | "
                          f"{median_of(rs, 'nll'):.3f} | {own} |")
        ours = median_of(runs["ebmplan"], "time_to_quality")
        for name in TORCHEBM_CONFIGS:
            theirs = median_of(runs[name], "time_to_quality")
            if ours is not None and theirs is not None:
                report.append(f"\ntime to quality: ebmplan is {theirs / ours:.2f}x faster than {name}")
    print("\n" + "\n".join(report))


if __name__ == "__main__":
    main()
