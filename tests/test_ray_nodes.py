"""What a Ray node needs: a two-node local cluster whose only worker node runs in another environment than the
driver — one with Ray but neither ebmplan nor torch, or one with another ebmplan installed — for
`sweep` and `plan eval` with and without the code sent through Ray (`--ship-code`)."""

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import ebmplan
from ebmplan.commands import COMMANDS
from ebmplan.common.errors import ConfigError
from ebmplan.common.version import __version__
from ebmplan.experiments.sweep import SweepConfig, run_sweep
from ebmplan.plan.eval.protocol import PlanEvalConfig
from ebmplan.plan.eval.run import plan_eval

pytestmark = pytest.mark.e2e  # Ray clusters of two nodes: make test-e2e

TINY = ["steps=30", "batch_size=32", "n_samples=64", "infer_steps=20", "hard_size=256", "checkpoint_every=30",
        "log_every=10"]
PLAN = dict(sources=("uniform",), nodes=(8,), episodes=2, difficulties=(0.3,), max_steps=20, draw=False)
PACKAGE = Path(ebmplan.__file__).parent  # the driver's ebmplan, as every node of a local cluster would import it

# On the worker node Python imports this first (PYTHONPATH): a machine with Python and Ray but without torch, and
# without ebmplan unless Ray sends it (the driver's installed copy cannot be imported; the copy Ray sends can).
BARE_NODE = f'''
import sys
from importlib.machinery import PathFinder


class Bare:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise ModuleNotFoundError("No module named 'torch'", name=name)
        if name == "ebmplan":
            spec = PathFinder.find_spec(name, path)
            if spec is not None and {str(PACKAGE)!r} in list(spec.submodule_search_locations or ()):
                raise ModuleNotFoundError("No module named 'ebmplan'", name=name)
        return None


sys.meta_path.insert(0, Bare())
'''


@pytest.fixture
def agent(maze_agent):
    return str(maze_agent)  # conftest's (seed 0, folder a0): trained once per session


@pytest.fixture
def cluster_with_node():
    """`start(pythonpath)` -> a cluster whose head has no CPU, so that every task runs on its one worker node,
    started with PYTHONPATH=`pythonpath` (and not the driver's)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_worker_niceness", "0")  # Ray's default nice 15 starves workers on a busy machine
    clusters = []

    def start(pythonpath: Path) -> Cluster:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        clusters.append(cluster)
        cluster.add_node(num_cpus=1, env_vars={"PYTHONPATH": str(pythonpath)})
        cluster.wait_for_nodes()
        return cluster

    yield start
    ray.shutdown()
    for cluster in clusters:
        cluster.shutdown()


def sweep(cluster, out: Path, *, ship_code: bool) -> dict:
    cfg = SweepConfig("spiral", grid=["width=8"], seeds=(0,), set=TINY, out=str(out), backend="ray",
                      address=cluster.address, ship_code=ship_code)
    (row,) = run_sweep(cfg, COMMANDS, quiet=True).rows
    return {**row, **json.loads((out / "records" / f"{row['run']}.json").read_text())}


def rows(out: Path) -> list[dict]:
    with (out / "results.csv").open() as f:
        return [{k: v for k, v in r.items() if "seconds" not in k} for r in csv.DictReader(f)]


def test_a_node_without_ebmplan_or_torch_fails_its_tasks_saying_what_it_needs(cluster_with_node, agent,
                                                                              tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BARE_NODE)
    cluster = cluster_with_node(site)
    ip = cluster.list_all_nodes()[1].node_ip_address
    no_ebmplan = (f"the node at {ip} has no ebmplan: let Ray send it (--ship-code, the default) or install ebmplan "
                  f"on every node, with torch and the other dependencies (README: Sweeps across machines)")
    no_torch = (f"the node at {ip} has no module 'torch', which ebmplan imports: install ebmplan's dependencies on "
                f"every node at the driver's versions (pip install 'ebmplan[ray]'; README: Sweeps across machines)")
    for ship_code, needs in ((False, no_ebmplan), (True, no_torch)):
        failed = sweep(cluster, tmp_path / f"sweep-{ship_code}", ship_code=ship_code)
        assert (failed["status"], failed["error"]) == ("failed", needs)
        assert "ModuleNotFoundError" in failed["traceback"]  # the node's own report is kept beside it
        with pytest.raises(ConfigError, match=f"the task for agent .*a0, (policy|uniform), did not finish: "
                                              f"{re.escape(needs)}"):
            plan_eval(PlanEvalConfig(agent=(agent,), out=str(tmp_path / f"plan-{ship_code}"), backend="ray",
                                     address=cluster.address, ship_code=ship_code, **PLAN))


def test_a_node_with_another_ebmplan_refuses_its_tasks_unless_the_code_is_sent(cluster_with_node, agent, tmp_path):
    # An installation of another version, as pip leaves one: the package (this one's code but its version) and
    # its metadata, ahead of the driver's ebmplan on the node's path.
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "ebmplan", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "ebmplan" / "common" / "version.py").write_text('__version__ = "0.0.1"\n\n\ndef version() -> str:\n'
                                                 '    return __version__\n')
    (site / "ebmplan-0.0.1.dist-info").mkdir()
    (site / "ebmplan-0.0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: ebmplan\n"
                                                              "Version: 0.0.1\n")
    assert __version__ != "0.0.1"
    cluster = cluster_with_node(site)
    node = cluster.list_all_nodes()[1].node_id[:8]
    refusal = (f"node [^ ]+/{node} has ebmplan 0.0.1 but the driver has {__version__}; install the same version "
               f"on every node \\(or leave --ship-code on\\)")
    refused = sweep(cluster, tmp_path / "installed", ship_code=False)
    assert refused["status"] == "failed" and re.fullmatch(refusal, refused["error"]), refused["error"]
    assert "ConfigError" in refused["traceback"]
    sent = sweep(cluster, tmp_path / "sent", ship_code=True)  # the driver's code runs there: not refused
    assert (sent["status"], sent["error"]) == ("ok", "")
    with pytest.raises(ConfigError, match=f"the task for agent .*a0, (policy|uniform), did not finish: {refusal}"):
        plan_eval(PlanEvalConfig(agent=(agent,), out=str(tmp_path / "plan"), backend="ray",
                                 address=cluster.address, ship_code=False, **PLAN))
    shipped = plan_eval(PlanEvalConfig(agent=(agent,), out=str(tmp_path / "shipped"), backend="ray",
                                       address=cluster.address, **PLAN))  # not refused: the driver's code ran
    assert {r["source"] for r in rows(shipped)} == {"policy", "uniform"}
