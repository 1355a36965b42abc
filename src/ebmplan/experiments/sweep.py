"""Sweeps: one training command over a grid of settings and seeds, in local processes or as Ray tasks.

A sweep folder holds one run folder per (setting, seed), named like `width=32-seed=1`, and:
- `results.csv`: one row per run (settings, seed, status, error, node, wall time, every final metric);
- `results.md`: every numeric final metric as mean ± std over the seeds of each setting, failures listed;
- `sweep.json`: what was asked for; `records/<run>.json`: where and how each run went (node, time, and for a
  failed run its error and whole traceback).

A run is complete when its `metrics.json` exists; running the same sweep again skips complete runs and retries
the others. Every run is single-threaded (`torch.set_num_threads(1)`), so one seed gives one result on either
backend. With Ray, runs are made on the nodes and their files travel back through Ray (backends.py).

One module of ~370 lines because its parts (planning the runs, running one as a task, tabulating them) share
the sweep folder's layout and `PlannedRun`, and no other module uses them.

The commands a sweep may run come from the command registry (`commands.COMMANDS`, handed in as `commands`: a
name -> an entry with `config`, its config type, and `run`, a module-level function that worker processes and
Ray tasks receive by reference).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Annotated, Any

import torch
import tyro

from ..common.backends import BACKENDS, Lost, import_ray, node_name, run_tasks
from ..common.errors import ConfigError, choose
from ..common.files import atomic_path, read_json, write_json
from ..common.runs import resolve_device
from .settings import setting_value

_OWNED = ("seed", "out", "overwrite", "resume")  # fields the sweep sets itself
FETCH = {"metrics": 0, "small": 20 * 10**6, "all": math.inf}  # what a Ray task sends back: files up to this size
ALWAYS = ("config.json", "metrics.json", "system.json", "metrics.csv")  # whatever their size


@dataclass
class SweepConfig:
    """Run a training command over a grid of settings and seeds; write results.csv and results.md."""

    command: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="COMMAND")] = "spiral"
    """the command to sweep: any training command of `ebmplan` (quote a name of several words)"""
    grid: Annotated[list[str], tyro.conf.UseAppendAction] = field(default_factory=list)
    """an option of the command and its values, e.g. width=8,16,32; repeat for a product. Each value is read
    as the words after --width on the command's own command line (a flag takes True or False). Separate the
    values with | when one holds a comma or several words: 'nodes=25,50|250' or 'nodes=25 50|250' runs
    --nodes 25 50, then --nodes 250"""
    seeds: tuple[int, ...] = (0, 1, 2)
    """seeds, e.g. --seeds 0 1 2 (or 0,1,2); every setting runs once per seed"""
    set: Annotated[list[str], tyro.conf.UseAppendAction] = field(default_factory=list)
    """an option of the command fixed for every run, e.g. steps=500, read as --grid reads one value;
    repeatable"""
    out: str | None = None
    """sweep folder (None: runs/sweep-<command>-<grid keys>-<hash of grid and fixed settings>, so the same
    sweep run again finds its folder and skips complete runs)"""
    backend: str = "local"
    """local (a pool of processes on this machine) or ray (one Ray task per run)"""
    address: str | None = None
    """Ray cluster address, e.g. ray://head:10001 or auto (None: start a local Ray on this machine)"""
    workers: int = 0
    """runs at once (0 = one per CPU core); with ray and no --address, the CPUs of the local Ray it starts"""
    fetch: str = "small"
    """ray: what each task sends back into the sweep folder: metrics (config.json, metrics.json, system.json,
    metrics.csv), small (also every file up to 20 MB: weights, figures, samples) or all"""
    ship_code: bool = True
    """ray with --address: send this ebmplan's code to the cluster's nodes (they still need its dependencies)"""


@dataclass
class PlannedRun:
    """One planned run: its folder name, grid settings, seed and the full config of the command."""

    name: str
    settings: dict[str, Any]
    seed: int
    config: Any


@dataclass
class SweepResult:
    path: Path
    keys: list[str]  # grid keys, in order
    rows: list[dict[str, Any]]  # one per run, in plan order
    wall_seconds: float


def run_sweep(cfg: SweepConfig, commands: Mapping[str, Any], *, quiet: bool = False) -> SweepResult:
    """Plan the runs, skip complete ones, run the rest on the chosen backend, and write the results.

    With Ray, each run is made in a scratch folder on its node and its files come back through Ray (see
    backends.py), so nodes need not share the driver's disk."""
    command, keys, runs, path = plan(cfg, commands)
    choose("backend", cfg.backend, BACKENDS)
    choose("--fetch", cfg.fetch, FETCH)
    if cfg.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {cfg.workers}")
    if cfg.backend == "ray":
        import_ray()  # fail before any work when the extra is missing
    devices = {str(getattr(r.config, "device", "cpu")) for r in runs}
    gpus = 1 if any(d.startswith("cuda") for d in devices) else 0
    if cfg.backend == "local" or not cfg.address:  # the runs use this machine: its GPU must be there
        for device in devices:
            resolve_device(device)
    path.mkdir(parents=True, exist_ok=True)
    (path / "records").mkdir(exist_ok=True)
    write_json(path / "sweep.json", {"command": command, "grid": cfg.grid, "seeds": parse_seeds(cfg.seeds),
                                     "set": cfg.set, "backend": cfg.backend, "runs": [r.name for r in runs]})
    t0 = time.perf_counter()
    records: dict[str, dict] = {}
    todo = []
    for r in runs:
        if _complete(path / r.name, r.config):
            records[r.name] = {**_read_record(path, r.name), "status": "ok", "error": "", "reused": True}
        else:
            todo.append(r)

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    say(f"sweep {path}: {len(runs)} runs, {len(runs) - len(todo)} already complete, {len(todo)} to run "
        f"({cfg.backend})")
    _write_results(path, keys, runs, records)
    if cfg.backend == "local":  # the runs write their folders here, under the sweep folder
        fn, tasks = run_command, [(commands[command].run, r.config) for r in todo]
        workers = min(cfg.workers or os.cpu_count() or 1, max(len(todo), 1))
    else:
        fn, tasks = run_folder_task, [(commands[command].run, r.config, cfg.fetch) for r in todo]
        workers = cfg.workers or os.cpu_count() or 1
    finished = run_tasks(fn, tasks, backend=cfg.backend, workers=workers, address=cfg.address, num_gpus=gpus,
                         ship_code=cfg.ship_code)
    for i, (index, record) in enumerate(finished, 1):
        r = todo[index]
        if isinstance(record, Lost):
            record = {"status": "failed", "error": record.error, "traceback": record.detail, "node": "",
                      "wall_seconds": math.nan}
        unpack_run(path / r.name, record.pop("files", {}))
        record["reused"] = False
        write_json(path / "records" / f"{r.name}.json", record)
        records[r.name] = record
        _write_results(path, keys, runs, records)
        error = f": {record['error']} (traceback: records/{r.name}.json)" if record["error"] else ""
        say(f"[{i}/{len(todo)}] {r.name} {record['status']} on {record['node'] or '?'} "
            f"({record['wall_seconds']:.0f} s){error}")
    wall = time.perf_counter() - t0
    rows = _write_results(path, keys, runs, records)
    failed = sum(row["status"] != "ok" for row in rows)
    say(f"sweep done in {wall:.0f} s: {len(rows) - failed} ok, {failed} failed; {path / 'results.md'}")
    return SweepResult(path=path, keys=keys, rows=rows, wall_seconds=wall)


# --------------------------------------------------------------------------------------------------- planning

def plan(cfg: SweepConfig, commands: Mapping[str, Any]) -> tuple[str, list[str], list[PlannedRun], Path]:
    """Check every setting against the command's config; return (command, grid keys, runs, sweep folder)."""
    command = " ".join(cfg.command.split())
    trainable = [name for name, c in commands.items() if _is_trainable(c.config)]
    choose("command to sweep", command, trainable)
    default = commands[command].config()
    grid = {}
    for spec in cfg.grid:
        key, text = _split_setting(spec, "--grid")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice; give all its values in one --grid {key}=v1,v2")
        values = [v.strip() for v in (text.split("|") if "|" in text else text.split(","))]
        if not all(values):
            raise ConfigError(f"--grid {spec!r} has an empty value; separate values with one , or |")
        grid[key] = [(setting_value(command, default, key, v, "--grid", owned=_OWNED), v) for v in values]
    fixed = {}
    for spec in cfg.set:
        key, text = _split_setting(spec, "--set")
        if key in grid:
            raise ConfigError(f"{key} is both in --grid and in --set; give it in one of them")
        fixed[key] = setting_value(command, default, key, text.strip(), "--set", owned=_OWNED)
    seeds = parse_seeds(cfg.seeds)
    spec_hash = hashlib.sha1(json.dumps([command, [(k, [v for v, _ in vs]) for k, vs in grid.items()],
                                         sorted(fixed.items())],
                                        default=str).encode()).hexdigest()[:8]
    path = Path(cfg.out) if cfg.out else Path("runs") / "-".join(
        ["sweep", command.replace(" ", "-"), *grid, spec_hash])
    if path.exists() and not path.is_dir():
        raise ConfigError(f"sweep folder {path} exists and is not a folder")
    path = path.resolve()  # workers (Ray's included) may start in another working directory
    runs = []
    for combo in itertools.product(*grid.values()):  # each value is (typed, as written)
        settings = {k: v for k, (v, _) in zip(grid, combo, strict=True)}
        label = [f"{k}={_label(text)}" for k, (_, text) in zip(grid, combo, strict=True)]
        for seed in seeds:
            name = "-".join([*label, f"seed={seed}"])
            owned = {"seed": seed, "out": str(path / name)}
            if hasattr(default, "overwrite"):
                owned["overwrite"] = True  # only incomplete runs are run, and those start afresh
            runs.append(PlannedRun(name, settings, seed,
                                   dataclasses.replace(default, **fixed, **settings, **owned)))
    return command, list(grid), runs, path


def _is_trainable(config: type) -> bool:
    """A command that makes a run folder of its own from a seed."""
    return {"seed", "out", "overwrite"} <= {f.name for f in dataclasses.fields(config)}


def _split_setting(spec: str, flag: str) -> tuple[str, str]:
    key, sep, text = spec.partition("=")
    if not sep or not key.strip() or not text.strip():
        raise ConfigError(f"{flag} {spec!r} is not of the form name=value (e.g. {flag} width=32)")
    return key.strip().replace("-", "_"), text


def parse_seeds(seeds: str | Sequence[int]) -> list[int]:
    """Seeds from the command line's list (0 1 2) or from text ("0,1,2")."""
    try:
        found = [int(s) for s in seeds.replace(",", " ").split()] if isinstance(seeds, str) else \
            [int(s) for s in seeds]
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r} must be whole numbers, e.g. --seeds 0 1 2") from None
    if not found or len(set(found)) != len(found):
        raise ConfigError(f"--seeds {' '.join(map(str, found)) or 'nothing'}: give at least one seed, each once")
    return found


def _label(value: Any) -> str:
    return str(value).replace("/", "_").replace(" ", "_")


def _comparable(config: Any) -> dict[str, Any]:
    d = json.loads(json.dumps(config, default=lambda o: dataclasses.asdict(o) if dataclasses.is_dataclass(o)
                              else str(o)))
    return {k: v for k, v in d.items() if k not in _OWNED}


def _complete(run: Path, config: Any) -> bool:
    """A run is complete when its metrics.json exists; one made with other settings is an error."""
    if not (run / "metrics.json").exists():
        return False
    saved = read_json(run / "config.json").get("config", {}) if (run / "config.json").exists() else {}
    planned = _comparable(config)
    for key, value in planned.items():
        if key in saved and saved[key] != value:
            raise ConfigError(f"run folder {run} was made with {key}={saved[key]}, but this sweep asks for "
                              f"{key}={value}; use another --out for a different sweep")
    return True


def _read_record(path: Path, name: str) -> dict:
    record_path = path / "records" / f"{name}.json"
    record = read_json(record_path) if record_path.exists() else {}
    return {"node": record.get("node", ""), "wall_seconds": record.get("wall_seconds", math.nan)}


# ----------------------------------------------------------------------------------------- a run, as a task

def run_command(run: Callable[[Any], Any], config: Any) -> dict[str, Any]:
    """`run(config)`, a command's run function, single-threaded; never raises: a failure is returned as status,
    error and traceback."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    status, error, trace = "ok", "", ""
    try:
        with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
            run(config)
    except Exception as err:  # every failure of one run is reported in the table; the others go on
        status, error, trace = "failed", f"{type(err).__name__}: {err}", traceback.format_exc()
    return {"status": status, "error": error, "traceback": trace, "node": node_name(),
            "wall_seconds": time.perf_counter() - t0}


def run_folder_task(run: Callable[[Any], Any], config: Any, fetch: str) -> dict[str, Any]:
    """On any node: `run` (a command's run function) of `config` into a node-local scratch folder; return its
    record with the run folder's files (`files`: relative path -> bytes; those over `FETCH[fetch]` bytes stay
    behind, except `ALWAYS`), so that nothing depends on the node sharing the driver's disk."""
    scratch = Path(tempfile.mkdtemp(prefix="ebmplan-run-"))
    try:
        folder = scratch / Path(config.out).name
        record = run_command(run, dataclasses.replace(config, out=str(folder)))
        files, left = {}, []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
            name = str(path.relative_to(folder))
            if path.name in ALWAYS or path.stat().st_size <= FETCH[fetch]:
                files[name] = path.read_bytes()
            else:
                left.append(name)
        return {**record, "files": files, "left_on_node": left, "made_in": str(folder)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def unpack_run(folder: Path, files: dict[str, bytes]) -> None:
    """Write a run's files under `folder`, metrics.json last (a run is complete once it exists)."""
    for name in sorted(files, key=lambda n: n == "metrics.json"):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(files[name])


# --------------------------------------------------------------------------------------------------- results

def _write_results(path: Path, keys: list[str], runs: list[PlannedRun], records: dict[str, dict]) -> list[dict]:
    """Write results.csv (every run so far) and results.md (mean ± std over seeds); return the rows."""
    rows = []
    for r in runs:
        if r.name not in records:
            continue
        record = records[r.name]
        metrics_path = path / r.name / "metrics.json"
        metrics = read_json(metrics_path) if record["status"] == "ok" and metrics_path.exists() else {}
        rows.append({"run": r.name, **r.settings, "seed": r.seed, "status": record["status"],
                     "error": record["error"], "node": record["node"], "wall_seconds": record["wall_seconds"],
                     "reused": record["reused"], **metrics})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path / "results.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    with atomic_path(path / "results.md") as tmp:
        tmp.write_text(results_table(keys, runs, rows))
    return rows


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def results_table(keys: list[str], runs: list[PlannedRun], rows: list[dict]) -> str:
    """Markdown: one row per setting, each numeric final metric as mean ± std over its seeds."""
    skip = {"run", "seed", "reused", *keys}
    metric_names = list(dict.fromkeys(k for row in rows for k, v in row.items()
                                      if k not in skip and _numeric(v) and k != "wall_seconds"))
    settings = list(dict.fromkeys(tuple(r.settings.values()) for r in runs))
    header = [*keys, "runs ok", *metric_names, "failures"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for combo in settings:
        mine = [row for row in rows if tuple(row[k] for k in keys) == combo]
        planned = sum(tuple(r.settings.values()) == combo for r in runs)
        ok = [row for row in mine if row["status"] == "ok"]
        cells = [str(v) for v in combo] + [f"{len(ok)}/{planned}"]
        for name in metric_names:
            values = [row[name] for row in ok if _numeric(row.get(name))]
            cells.append(_mean_std(values))
        failures = [f"seed {row['seed']}: {_first_clause(row['error'])}"
                    for row in mine if row["status"] != "ok"]
        cells.append("; ".join(failures) or "")
        lines.append("| " + " | ".join(cells) + " |")
    note = "mean ± std over seeds (std with n-1); a failed run is listed, not averaged."
    return "\n".join(lines) + f"\n\n{note}\n"


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.4g} ± {std:.2g}"


def _first_clause(error: str) -> str:
    return error.split(";")[0].replace("|", "/").replace("\n", " ")[:160]
