"""Next-frame prediction on bouncing balls, measured on held-out videos.

    python benchmarks/video.py [extra ebmplan video options]
    python benchmarks/video.py ablation --seeds 0 1 2

The first form runs `ebmplan video` at its defaults and prints its held-out table (energy model against the
MSE regressor, the negatives ablation at equal training time, the single-frame latent-variable comparison),
the wall time and the command. The second repeats only the negatives ablation over several seeds (its arms
get equal wall-clock time, so one seed is a noisy comparison) and prints mean and spread per arm.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from ebmplan.cli import main
from ebmplan.common.files import read_json
from ebmplan.video import VideoConfig
from ebmplan.video.prediction import energy_predictor, one_step
from ebmplan.video.training import make_data, train_energy


def bench(extra: list[str]) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench-video-")) / "run"
    args = ["video", "--out", str(out), *extra]
    t0 = time.perf_counter()
    code = main(args)
    wall = time.perf_counter() - t0
    if code != 0:
        sys.exit(code)
    m = read_json(out / "metrics.json")
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; wall time {wall:.0f} s "
          f"(ebm training {m['ebm']['train']['seconds']:.0f} s, {m['ebm']['train']['steps']} steps)")
    print(f"target: ebm one-step position error < 1 px -> {m['ebm']['one_step']['position_error']:.3f} px")
    print(f"command: ebmplan {shlex.join(args[:1] + extra)}")


def ablation(seeds: list[int], seconds: float) -> None:
    t0 = time.perf_counter()
    cfg = VideoConfig(ablation_seconds=seconds)
    rows: dict[str, list[tuple[float, float, int]]] = {arm: [] for arm in cfg.ablation}
    for seed in seeds:
        cfg.seed = seed
        data = make_data(cfg)
        for arm in cfg.ablation:
            energy, info = train_energy(cfg, data.train, arm, seconds=seconds, seed=seed)
            torch.manual_seed(seed + 1)
            m = one_step(energy_predictor(energy, cfg), data.test, cfg.n_eval)
            rows[arm].append((m["position_error"], m["mse"], info["steps"]))
            print(f"seed {seed} {arm:<36} steps {info['steps']:>5}  pos {m['position_error']:.3f} px  "
                  f"mse {m['mse']:.4f}", flush=True)
    print(f"\n{'negatives':<36}{'steps':>8}{'1-step pos px (mean, min-max)':>34}{'1-step MSE':>12}")
    for arm, r in rows.items():
        pos = [x[0] for x in r]
        print(f"{arm:<36}{statistics.mean(x[2] for x in r):>8.0f}{statistics.mean(pos):>14.3f}"
              f" ({min(pos):.3f}-{max(pos):.3f}){statistics.mean(x[1] for x in r):>12.4f}")
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; {len(seeds)} seeds x "
          f"{len(rows)} arms x {seconds:g} s; wall time {time.perf_counter() - t0:.0f} s")
    seed_list = " ".join(map(str, seeds))
    print(f"command: python benchmarks/video.py ablation --seeds {seed_list} --seconds {seconds:g}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["ablation"]:
        p = argparse.ArgumentParser(prog="benchmarks/video.py ablation")
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        p.add_argument("--seconds", type=float, default=VideoConfig().ablation_seconds)
        a = p.parse_args(sys.argv[2:])
        ablation(a.seeds, a.seconds)
    else:
        bench(sys.argv[1:])
