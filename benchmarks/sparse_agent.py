"""A copy of an agent run whose exploration data keeps a random fraction of its episodes: the planners' replay
data made sparse, with the agent itself unchanged (design question of issue #18: does a learned generator earn
its place where the observed routes are few?).

    python benchmarks/sparse_agent.py runs/agents/Maze11x11-x5-seed0 0.1   # -> runs/agents/Maze11x11-x5-seed0-sparse0.1
    python benchmarks/ebm_variants.py --agent runs/agents/Maze11x11-x5-seed0-sparse0.1 ...

The copy holds every file of the run; only `trajectories.npz` (format in src/ebmplan/plan/replay.py) is cut:
whole episodes, drawn without replacement with seed 0, in their original order.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("agent", type=Path, help="run folder of `ebmplan maze train`")
    parser.add_argument("fraction", type=float, help="share of the exploration episodes kept, in (0, 1]")
    args = parser.parse_args()
    if not 0 < args.fraction <= 1:
        parser.error(f"the fraction must lie in (0, 1], got {args.fraction}")
    out = Path(f"{args.agent}-sparse{args.fraction:g}")
    shutil.copytree(args.agent, out, dirs_exist_ok=True)
    with np.load(args.agent / "trajectories.npz") as f:
        traj = {k: f[k] for k in f.files}
    offsets = traj["offsets"]
    episodes = len(offsets) - 1
    keep = np.sort(np.random.default_rng(0).choice(episodes, size=max(1, round(args.fraction * episodes)),
                                                   replace=False))
    parts = [traj["states"][offsets[e]:offsets[e + 1]] for e in keep]
    traj["states"] = np.concatenate(parts)
    traj["offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    traj["goals"], traj["reached"] = traj["goals"][keep], traj["reached"][keep]
    np.savez(out / "trajectories.npz", **traj)
    print(f"{out}: {len(keep)} of {episodes} episodes, {len(traj['states'])} states")


if __name__ == "__main__":
    main()
