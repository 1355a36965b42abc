"""Where work runs: a pool of local processes, or Ray tasks on one machine or a cluster of machines.

`run_tasks(fn, tasks, ...)` calls `fn(*task)` for every task and yields `(index, result)` as each finishes;
`fn` returns what the driver needs (a record, rows, a run folder's files) instead of writing to the driver's
disk, so a cluster whose nodes have separate disks gives the same results as this machine. A task whose worker
or node is lost, or that cannot start there, yields a `Lost` result saying why in one sentence. Ray nodes get
this ebmplan's code through Ray (`runtime_env` `py_modules`, on by default for a cluster), and each task checks
that the ebmplan code it runs is the driver's version; its other dependencies (torch, numpy, ...) must be
installed on every node (README: "Sweeps across machines").
"""

from __future__ import annotations

import multiprocessing
import re
import socket
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .version import __version__

BACKENDS = ("local", "ray")


@dataclass
class Lost:
    """A task that never returned: its worker process or node died (e.g. killed for memory), or its node could
    not run it (no ebmplan or a dependency missing there, another ebmplan version)."""

    error: str
    """one sentence: why"""
    detail: str = ""
    """the whole error as the backend reported it (with the node's traceback where there is one)"""


def import_ray():
    """Ray, or one ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray, which is not installed; install the ray extra: "
                          "pip install 'ebmplan[ray]'") from None
    return ray


def run_tasks(fn: Callable[..., Any], tasks: list[tuple], *, backend: str, workers: int,
              address: str | None = None, num_gpus: float = 0,
              ship_code: bool = True) -> Generator[tuple[int, Any], None, None]:
    """`fn(*task)` for every task, `workers` at once: `(index, result or Lost)` in the order they finish.

    local: fresh spawned processes (no threads inherited from this one). ray: one task per call (1 CPU and
    `num_gpus` GPUs each) on the cluster at `address`, or on a Ray started here with `workers` CPUs; with
    `ship_code`, a cluster's nodes import this ebmplan's code, sent by Ray."""
    if not tasks:
        return
    if backend == "local":
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except Exception as err:  # the worker process itself died
                    yield futures[future], Lost(_one_line(err), str(err))
        return
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        if address:
            code = {"py_modules": [str(Path(__file__).parents[1])]} if ship_code else None
            ray.init(address=address, log_to_driver=False, runtime_env=code)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        if num_gpus and ray.cluster_resources().get("GPU", 0) < num_gpus:
            raise ConfigError(f"the runs ask for a CUDA device but the Ray cluster "
                              f"{'at ' + address if address else 'started here'} has no GPU; use --set "
                              f"device=cpu, or a cluster with GPU nodes")
        remote = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(_checked)
        refs = {remote.remote(__version__, fn, *task): i for i, task in enumerate(tasks)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    yield refs[ref], ray.get(ref)
                except Exception as err:  # the task's worker or node was lost, or could not import ebmplan
                    yield refs[ref], Lost(_why_lost(err), _ANSI.sub("", str(err)))
    finally:
        if started:
            ray.shutdown()


def _checked(driver_version: str, fn: Callable[..., Any], *args: Any) -> Any:
    """On a Ray node: refuse to run with ebmplan code other than the driver's (results would differ silently).

    The version is that of the code imported here (the code Ray sent, or the node's own ebmplan), not an
    installed distribution's metadata, which on a node that has its own ebmplan names that one even when the
    code Ray sent runs."""
    if __version__ != driver_version:
        raise ConfigError(f"node {node_name()} has ebmplan {__version__} but the driver has {driver_version}; "
                          f"install the same version on every node (or leave --ship-code on)")
    return fn(*args)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the task's name in its errors


def _why_lost(err: Exception) -> str:
    """One sentence for a Ray task that failed before or outside its function: which node lacks what, or the
    refusal `_checked` raised there."""
    text = _ANSI.sub("", str(err))
    ip = re.search(r"\bip=([^\s,)]+)", text)
    node = f"the node at {ip.group(1)}" if ip else "a node"
    missing = re.search(r"No module named '([\w.]+)'", text)
    if missing and missing.group(1).startswith("ebmplan."):
        return (f"{node} has an ebmplan without {missing.group(1)}, another version than the driver's "
                f"{__version__}: install the same version on every node (or leave --ship-code on)")
    if missing and missing.group(1) == "ebmplan":
        return (f"{node} has no ebmplan: let Ray send it (--ship-code, the default) or install ebmplan on every "
                f"node, with torch and the other dependencies (README: Sweeps across machines)")
    if missing:
        return (f"{node} has no module {missing.group(1)!r}, which ebmplan imports: install ebmplan's "
                f"dependencies on every node at the driver's versions (pip install 'ebmplan[ray]'; README: Sweeps "
                f"across machines)")
    for line in reversed(text.strip().splitlines()):  # a ConfigError raised by _checked ends the message
        if line.startswith("ebmplan.common.errors.ConfigError: ") or line.startswith("ConfigError: "):
            return line.split("ConfigError: ", 1)[1]
    return _one_line(err)


def _one_line(err: BaseException) -> str:
    reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return f"{type(err).__name__}: {reason}"


def node_name() -> str:
    """This host's name, and on a Ray worker the node's id (several nodes may share a host)."""
    host = socket.gethostname()
    try:
        import ray

        if ray.is_initialized():
            return f"{host}/{ray.get_runtime_context().get_node_id()[:8]}"
    except ImportError:
        pass
    return host
