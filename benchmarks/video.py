"""Next-frame prediction on bouncing balls: the `ebmplan video` defaults, measured on held-out videos.

    flock /tmp/ebmplan-cpu.lock env PYTHONPATH=src python benchmarks/video.py [extra ebmplan video options]

Prints the held-out table (energy model against the MSE regressor, the negatives ablation at equal training
time, and the single-frame latent-variable comparison), the wall time, and the command that reproduces it.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from ebmplan.cli import main
from ebmplan.runs import read_json


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


if __name__ == "__main__":
    bench(sys.argv[1:])
