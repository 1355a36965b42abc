"""Does a change leave results unchanged? Runs `spiral`, `train` on a suite set (moons), `conditional`, `video`,
`maze train` and a small `plan eval` with small budgets and one seed, and writes every number they measured
(metrics.json, metrics.csv or results.csv; timings left out) to one JSON file; `--compare` prints the
differences between two such files.

    python benchmarks/fingerprint.py --out /tmp/after                  # this tree's ebmplan
    PYTHONPATH=/tmp/old/src python benchmarks/fingerprint.py --out /tmp/before   # another checkout's
    python benchmarks/fingerprint.py --compare /tmp/before/fingerprint.json /tmp/after/fingerprint.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

TIMING = ("seconds", "_ms", "wall", "time", "node")  # a key holding any of these is a clock reading

COMMANDS = {
    "spiral": ["spiral", "--steps", "300", "--width", "32", "--n-samples", "300", "--infer-steps", "100"],
    "train": ["train", "--data", "moons", "--steps", "300", "--width", "32", "--n-samples", "300",
              "--infer-steps", "100"],
    "conditional": ["conditional", "--steps", "100", "--width", "32", "--batch-size", "64", "--n-eval", "16",
                    "--starts", "8", "--latent-samples", "4", "--latent-starts", "4", "--infer-steps", "40"],
    "video": ["video", "--n-train", "24", "--n-test", "4", "--length", "10", "--rollout", "4", "--steps", "60",
              "--width", "32", "--n-eval", "8", "--infer-steps", "10", "--ablation", "uniform",
              "--ablation-seconds", "0.5", "--no-single-frame"],
    "maze": ["maze", "train", "--map", "FourRooms", "--resize", "2", "--steps", "400", "--log-every", "100"],
}
PLAN = ["plan", "eval", "--sources", "uniform,replay,sgm,cvae,ebm", "--nodes", "8", "16", "--episodes", "4",
        "--difficulties", "0.3", "0.8", "--max-steps", "30", "--gen-steps", "20", "--no-draw"]


def numbers(obj, prefix=""):
    """Every number in a JSON value, keyed by its path, leaving out clock readings."""
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() if not any(t in key for t in TIMING)
                for k, v in numbers(val, f"{prefix}{key}.").items()}
    if isinstance(obj, list):
        return {k: v for i, val in enumerate(obj) for k, v in numbers(val, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): obj} if isinstance(obj, (int, float, str, bool)) or obj is None else {}


def run(out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    found = {}
    for name, args in [*COMMANDS.items(), ("plan", PLAN)]:
        folder = out / name
        extra = ["--agent", str(out / "maze")] if name == "plan" else []
        subprocess.run([sys.executable, "-m", "ebmplan", *args, *extra, "--out", str(folder), "--overwrite"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        if name == "plan":
            with (folder / "results.csv").open() as f:
                found[name] = numbers([dict(r) for r in csv.DictReader(f)])
        else:
            metrics = json.loads((folder / "metrics.json").read_text())
            metrics.pop("ablation", None)  # video's ablation arms train for a wall-clock time: never identical
            found[name] = numbers(metrics)
            with (folder / "metrics.csv").open() as f:  # the training curves too
                rows = [r for r in csv.DictReader(f) if not r.get("model", "").startswith("ablation")]
                found[name].update(numbers({"csv": rows}))
        print(f"{name}: {len(found[name])} numbers", flush=True)
    (out / "fingerprint.json").write_text(json.dumps(found, indent=1, sort_keys=True))
    return found


def compare(a: str, b: str) -> int:
    fa, fb = (json.loads(Path(p).read_text()) for p in (a, b))
    differences = 0
    for command in sorted(fa.keys() | fb.keys()):
        xa, xb = fa.get(command, {}), fb.get(command, {})
        diffs = [(k, xa.get(k), xb.get(k)) for k in sorted(xa.keys() | xb.keys()) if xa.get(k) != xb.get(k)]
        differences += len(diffs)
        print(f"{command}: {len(xa.keys() | xb.keys())} numbers, "
              f"{'identical' if not diffs else f'{len(diffs)} differ'}")
        for d in diffs[:10]:
            print("   ", *d)
    return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="folder for the runs and fingerprint.json")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    run(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
