"""Sweeps: the local backend's tables, failures and re-runs; the Ray backend on one and on two nodes."""

import csv
import json
import math
import os
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from ebmplan.commands import COMMANDS
from ebmplan.common.errors import ConfigError
from ebmplan.experiments.sweep import SweepConfig, plan, run_sweep

# ~30 training steps and a few samples per run: enough to produce every metric, fast on one thread.
TINY = ["steps=30", "batch_size=32", "n_samples=64", "infer_steps=20", "hard_size=256", "checkpoint_every=30",
        "log_every=10"]
TIMING = {"wall_seconds", "train_seconds", "infer_seconds", "node", "reused"}


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    cfg = SweepConfig("spiral", grid=["width=8,16"], seeds=(0, 1), set=TINY, out=str(out), workers=2)
    return run_sweep(cfg, COMMANDS, quiet=True)


@pytest.mark.e2e
def test_local_sweep_writes_csv_and_mean_std_table(local_sweep):
    rows = read_csv(local_sweep.path / "results.csv")
    assert [r["run"] for r in rows] == [f"width={w}-seed={s}" for w in (8, 16) for s in (0, 1)]
    assert all(r["status"] == "ok" and r["error"] == "" for r in rows)
    for r in rows:  # every final metric of the run is in its row
        assert (local_sweep.path / r["run"] / "metrics.json").exists()
        for key in ("precision", "coverage", "nll", "nll_uniform", "mmd"):
            assert math.isfinite(float(r[key]))
    table = (local_sweep.path / "results.md").read_text()
    for width in ("8", "16"):
        line = next(ln for ln in table.splitlines() if ln.startswith(f"| {width} |"))
        assert "2/2" in line and "±" in line
        precisions = [float(r["precision"]) for r in rows if r["width"] == width]
        mean = sum(precisions) / 2
        std = abs(precisions[0] - precisions[1]) / math.sqrt(2)
        assert f"{mean:.4g} ± {std:.2g}" in line
    # different seeds really are different runs
    assert rows[0]["precision"] != rows[1]["precision"]


def test_failed_run_is_reported_others_finish_and_rerun_skips_complete(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "spiral", "--grid", "lr=1e-3,1e9", "--seeds", "0", "--out", str(out), "--workers", "2",
            "--set", "negatives=uniform:1", *[a for s in TINY for a in ("--set", s)]]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    rows = {r["lr"]: r for r in read_csv(out / "results.csv")}
    assert rows["0.001"]["status"] == "ok" and float(rows["0.001"]["precision"]) > 0
    assert rows["1000000000.0"]["status"] == "failed"
    assert "Divergence" in rows["1000000000.0"]["error"]
    table = (out / "results.md").read_text()
    assert "0/1" in table and "Divergence: training diverged" in table and "1/1" in table
    record = json.loads((out / "records" / "lr=1e9-seed=0.json").read_text())
    assert record["traceback"].startswith("Traceback") and "Divergence" in record["traceback"]
    assert "traceback: records/lr=1e9-seed=0.json" in first.stdout

    done = out / "lr=1e-3-seed=0" / "metrics.json"
    stamp = done.stat().st_mtime_ns
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "1 already complete, 1 to run" in second.stdout
    assert done.stat().st_mtime_ns == stamp  # the complete run was not run again
    again = {r["lr"]: r for r in read_csv(out / "results.csv")}
    assert again["0.001"]["reused"] == "True" and again["0.001"]["precision"] == rows["0.001"]["precision"]
    assert again["1000000000.0"]["status"] == "failed"  # the failed one was retried, and failed again


def test_bad_sweeps_are_one_clear_error(tmp_path, monkeypatch):
    def cfg(**kw):
        return SweepConfig(**{"command": "spiral", "out": str(tmp_path / "s"), **kw})

    with pytest.raises(ConfigError, match="has no setting 'widht'"):
        plan(cfg(grid=["widht=8,16"]), COMMANDS)
    with pytest.raises(ConfigError, match="expected a number of type int"):
        plan(cfg(grid=["width=8,wide"]), COMMANDS)
    with pytest.raises(ConfigError, match="sweep sets it"):
        plan(cfg(set=["seed=3"]), COMMANDS)
    with pytest.raises(ConfigError, match="--seeds"):
        plan(cfg(seeds="0,x"), COMMANDS)
    with pytest.raises(ConfigError, match="unknown command to sweep 'nope'"):
        plan(cfg(command="nope"), COMMANDS)
    with pytest.raises(ConfigError, match="unknown backend"):
        run_sweep(cfg(backend="slurm"), COMMANDS, quiet=True)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'ebmplan\[ray\]'"):
        run_sweep(cfg(backend="ray"), COMMANDS, quiet=True)
    result = run_cli("sweep", "spiral", "--grid", "depth=3,x", "--out", str(tmp_path / "s"))
    assert result.returncode == 2 and "depth=x" in result.stderr


def test_a_cuda_sweep_on_a_machine_without_a_gpu_is_refused_before_any_run(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    cfg = SweepConfig("spiral", grid=["width=8"], seeds=(0,), set=[*TINY, "device=cuda"], out=str(tmp_path / "s"))
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        run_sweep(cfg, COMMANDS, quiet=True)
    assert not (tmp_path / "s").exists()


def test_seeds_take_plan_evals_list_form_and_the_comma_form(tmp_path):
    from ebmplan.commands import parse

    for words in (["0", "1", "2"], ["0,1,2"]):
        cfg = parse("sweep", ["spiral", "--seeds", *words, "--grid", "width=8,16", "--out",
                                                 str(tmp_path / "s")])
        assert cfg.seeds == (0, 1, 2) and cfg.grid == ["width=8,16"]
        assert [r.name for r in plan(cfg, COMMANDS)[2]][:3] == ["width=8-seed=0", "width=8-seed=1", "width=8-seed=2"]
    assert parse("plan eval", ["--seeds", "0", "1", "2"]).seeds == (0, 1, 2)  # the same form
    assert [r.seed for r in plan(SweepConfig("spiral", seeds="3,4", out=str(tmp_path / "s")), COMMANDS)[2]] == [3, 4]
    with pytest.raises(ConfigError, match="each once"):
        plan(SweepConfig("spiral", seeds=(1, 1), out=str(tmp_path / "s")), COMMANDS)


def test_grid_values_are_read_by_the_commands_own_parser(tmp_path):
    def planned(command, *grid, set=()):
        cfg = SweepConfig(command, grid=list(grid), seeds=(0,), set=list(set), out=str(tmp_path / "s"))
        return [(r.name, r.config) for r in plan(cfg, COMMANDS)[2]]

    # a tuple option: commas without | separate the values, each value a tuple of one
    runs = planned("plan eval", "nodes=50,250")
    assert [(name, c.nodes) for name, c in runs] == [("nodes=50-seed=0", (50,)), ("nodes=250-seed=0", (250,))]
    # | separates values that hold several numbers, written with commas or as words
    assert [c.nodes for _, c in planned("plan eval", "nodes=25,50|250")] == [(25, 50), (250,)]
    assert [c.nodes for _, c in planned("plan eval", "nodes=25 50|250 1000")] == [(25, 50), (250, 1000)]
    # a flag takes true/false; an optional option takes None; --set reads its value the same way
    runs = planned("plan eval", "draw=false,true", "map=None,FourRooms", set=["difficulties=0.7 0.9", "thin=yes"])
    assert [(c.draw, c.map) for _, c in runs] == [(False, None), (False, "FourRooms"), (True, None),
                                                  (True, "FourRooms")]
    assert all(c.difficulties == (0.7, 0.9) and c.thin for _, c in runs)
    assert [c.goal for _, c in planned("maze train", "goal=2.5 2.5|None")] == [(2.5, 2.5), None]
    with pytest.raises(ConfigError, match=r"--grid nodes=x: expected one or more numbers of type int, as after "
                                          r"--nodes on the command line of ebmplan plan eval"):
        planned("plan eval", "nodes=25,x")
    with pytest.raises(ConfigError, match="--grid goal=2.5: expected 2 numbers of type float or None"):
        planned("maze train", "goal=2.5")
    with pytest.raises(ConfigError, match="--set thin=maybe: expected true or false"):
        planned("plan eval", set=["thin=maybe"])


def test_capacity_marks_a_failed_width_and_draws_both_figures(tmp_path):
    out = tmp_path / "capacity"
    result = run_cli("capacity", "--widths", "0,8", "--seeds", "0", "--out", str(out),
                 *[a for s in TINY for a in ("--set", s)])
    assert result.returncode == 0, result.stderr
    rows = {r["width"]: r for r in read_csv(out / "results.csv")}
    assert rows["8"]["status"] == "ok"
    assert json.loads((out / "width=8-seed=0" / "config.json").read_text())["config"]["depth"] == 3
    assert rows["0"]["status"] == "failed" and "width must be at least 1" in rows["0"]["error"]
    assert (out / "capacity.png").stat().st_size > 10_000
    assert (out / "capacity_metrics.png").stat().st_size > 10_000
    assert "| 0 | 0/1 |" in (out / "results.md").read_text()


# ---------------------------------------------------------------------------------------------- Ray backend

def _same_results(a: list[dict], b: list[dict]) -> None:
    assert [r["run"] for r in a] == [r["run"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert {k: ra[k] for k in ra if k not in TIMING} == {k: rb[k] for k in rb if k not in TIMING}


@pytest.fixture
def ray():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    # Ray's workers start elsewhere: give them this checkout's sources by absolute path.
    paths = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    # Ray runs its workers at nice 15 by default, which starves them on a busy shared test machine.
    os.environ.setdefault("RAY_worker_niceness", "0")
    yield ray
    ray.shutdown()


@pytest.mark.e2e
def test_ray_backend_gives_the_local_results(ray, local_sweep, tmp_path):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    cfg = SweepConfig("spiral", grid=["width=8,16"], seeds=(0, 1), set=TINY, out=str(tmp_path / "r"),
                      backend="ray")
    result = run_sweep(cfg, COMMANDS, quiet=True)
    node = ray.get_runtime_context().get_node_id()[:8]
    assert {r["node"].split("/")[1] for r in result.rows} == {node}  # host/node: the one local node
    _same_results(read_csv(local_sweep.path / "results.csv"), read_csv(result.path / "results.csv"))


@pytest.mark.e2e
def test_a_two_node_cluster_with_separate_disks_gives_the_local_results(ray, local_sweep, tmp_path):
    """Each node's tasks write under their own folder (standing in for separate disks); the runs' files come
    back through Ray, the driver's sweep folder gets everything, a re-run skips the finished runs, and a run that
    fails keeps its traceback."""
    from ray.cluster_utils import Cluster

    disks = [tmp_path / "disk-head", tmp_path / "disk-worker"]
    for disk in disks:
        disk.mkdir()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "env_vars": {"TMPDIR": str(disks[0])}})
    try:
        cluster.add_node(num_cpus=1, env_vars={"TMPDIR": str(disks[1])})
        cluster.wait_for_nodes()
        cfg = SweepConfig("spiral", grid=["width=8,16,0"], seeds=(0, 1), set=TINY, out=str(tmp_path / "c"),
                          backend="ray", address=cluster.address)
        result = run_sweep(cfg, COMMANDS, quiet=True)
        records = {r["run"]: json.loads((result.path / "records" / f"{r['run']}.json").read_text())
                   for r in result.rows}
        made_in = {Path(rec["made_in"]).parents[1] for rec in records.values()}
        assert made_in == set(disks)  # both nodes ran, each on its own disk
        assert {r["node"].split("/")[1] for r in result.rows} == {n.node_id[:8] for n in cluster.list_all_nodes()}
        ok = [r for r in result.rows if r["status"] == "ok"]
        _same_results(read_csv(local_sweep.path / "results.csv"), [{k: str(v) for k, v in r.items()} for r in ok])
        for r in ok:  # the whole (small) run folder came back
            for name in ("config.json", "metrics.json", "metrics.csv", "model.safetensors", "landscape.png"):
                assert (result.path / r["run"] / name).is_file()
        failed = [r for r in result.rows if r["status"] != "ok"]
        assert [r["width"] for r in failed] == [0, 0] and "width must be at least 1" in failed[0]["error"]
        assert "ConfigError" in records[failed[0]["run"]]["traceback"]
        again = run_sweep(cfg, COMMANDS, quiet=True)
        assert [r["reused"] for r in again.rows] == [r["status"] == "ok" for r in result.rows]
        gpu = SweepConfig("spiral", grid=["width=8"], seeds=(0,), set=[*TINY, "device=cuda"], backend="ray",
                          out=str(tmp_path / "gpu"), address=cluster.address)
        with pytest.raises(ConfigError, match="ask for a CUDA device but the Ray cluster at .* has no GPU"):
            run_sweep(gpu, COMMANDS, quiet=True)  # each task would ask for one GPU: refused before any run starts
    finally:
        ray.shutdown()
        cluster.shutdown()
