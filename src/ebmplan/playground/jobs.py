"""Processes that train: a tab's energy model (energy_session.py), an agent or a subgoal generator (background
jobs, which outlive the tab that started them: a page can leave and come back). Each runs in its own process,
so that trainings do not share torch's global random numbers and a stopped one frees all its memory; together
they take at most `cap` slots (`--max-trainings`), and one more is refused with a clear sentence.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..common.errors import ConfigError, Divergence

CONTEXT = multiprocessing.get_context("spawn")  # a fresh interpreter: no server threads or locks inherited


class Slots:
    """At most `cap` trainings at once."""

    def __init__(self, cap: int):
        self.cap, self.held, self.lock = cap, 0, threading.Lock()

    def take(self, what: str) -> None:
        with self.lock:
            if self.held >= self.cap:
                raise ConfigError(f"{self.held} trainings are running already, the most this playground runs at "
                                  f"once (ebmplan playground --max-trainings {self.cap}); wait for one to finish "
                                  f"or stop one, then start {what} again")
            self.held += 1

    def give(self) -> None:
        with self.lock:
            self.held = max(0, self.held - 1)


class Worker:
    """A process running `target(conn, *args)`, and our end of the pipe to it."""

    def __init__(self, target: Callable[..., None], *args: Any):
        self.conn, child = CONTEXT.Pipe()
        self.process = CONTEXT.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()

    def send(self, message: tuple) -> bool:
        try:
            self.conn.send(message)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, grace: float = 2.0) -> None:
        """Ask the process to stop; end it if it has not within `grace` seconds."""
        self.send(("stop",))
        self.process.join(grace)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_job(conn: Connection, function: Callable[..., dict], *args: Any) -> None:
    """A background job's process: `function(*args)`, then ("done", its result) or ("error", one sentence)."""
    try:
        conn.send(("done", function(*args)))
    except (ConfigError, Divergence) as err:
        conn.send(("error", str(err)))
    except Exception as err:  # a bug: the server's log gets the traceback, the page one sentence
        traceback.print_exc()
        conn.send(("error", f"the job failed ({type(err).__name__}: {err})"))


@dataclass
class Job:
    """A background job: `key` says what it makes (one job per key at a time); `progress()` reads how far it is
    (0 to 1) from what it writes."""

    id: str
    key: str
    kind: str
    title: str
    worker: Worker
    progress: Callable[[], float]
    state: str = "running"  # running, finished, failed or stopped
    message: str = ""
    result: dict = field(default_factory=dict)

    def poll(self) -> bool:
        """Read what the process said; True when the job has just ended."""
        if self.state != "running":
            return False
        try:
            while self.worker.conn.poll():
                kind, payload = self.worker.conn.recv()
                self.state = "finished" if kind == "done" else "failed"
                if kind == "done":
                    self.result = payload
                else:
                    self.message = payload
        except (EOFError, OSError):
            pass
        if self.state == "running" and not self.worker.alive:
            self.state, self.message = "failed", f"the job's process ended (exit code {self.worker.process.exitcode})"
        return self.state != "running"

    def status(self) -> dict:
        progress = 1.0 if self.state == "finished" else self.progress()
        return {"id": self.id, "key": self.key, "kind": self.kind, "title": self.title, "state": self.state,
                "message": self.message, "progress": round(progress, 4), "result": self.result}


class Jobs:
    """The server's background jobs, under the shared `slots`."""

    def __init__(self, slots: Slots):
        self.slots, self.jobs, self.lock = slots, {}, threading.Lock()

    def start(self, key: str, kind: str, title: str, function: Callable[..., dict], *args: Any,
              progress: Callable[[], float] = lambda: 0.0) -> Job:
        """Start `function(*args)` in a process, unless a job for `key` runs already (then that job)."""
        with self.lock:
            self.refresh()
            for job in self.jobs.values():
                if job.key == key and job.state == "running":
                    return job
            self.slots.take(title)
            job = Job(uuid.uuid4().hex[:12], key, kind, title, Worker(run_job, function, *args), progress)
            self.jobs[job.id] = job
            return job

    def refresh(self) -> None:
        for job in self.jobs.values():
            if job.poll():
                self.slots.give()

    def get(self, job_id: str) -> Job:
        with self.lock:
            self.refresh()
            if job_id not in self.jobs:
                raise ConfigError(f"no job {job_id!r} on this server")
            return self.jobs[job_id]

    def all(self) -> list[Job]:
        with self.lock:
            self.refresh()
            return list(self.jobs.values())

    def stop(self, job_id: str) -> Job:
        job = self.get(job_id)
        with self.lock:
            if job.state == "running":
                job.worker.stop(grace=0.0)
                job.state, job.message = "stopped", "stopped from the page"
                self.slots.give()
            return job

    def close(self) -> None:
        for job in list(self.jobs.values()):
            if job.state == "running":
                job.worker.stop(grace=0.0)
                job.state = "stopped"
                self.slots.give()
