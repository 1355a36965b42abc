"""Candidate sources per agent, made once and kept: in the server's memory (the agents and their sources, a
few at a time), and for the learned ones (cvae, ebm) on disk beside the agent, in `AGENT/subgoals/`, so a fit
outlives the server. A learned source with no saved fit is fitted by a background job (`plan.subgoals.make_source`,
as `plan eval` fits it); the plan page waits for it with a progress bar, once per agent, settings and code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path

from torch import nn

from ..common.files import load_weights, read_json, save_weights, write_json
from ..plan.agent.run import AgentRun, load_agent
from ..plan.sources.candidates import Source, SourceSettings
from ..plan.sources.generators import Generator
from ..plan.sources.registry import REGISTRY, make_source
from .jobs import Job, Jobs

KEPT = 4  # agents (with their sources) kept in memory


@functools.cache
def code_key() -> str:
    """A digest of this ebmplan's own source files: a fit made by other code (another version, or a change to
    how the generators train or read the replay data) is another fit, never reused."""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).parents[1].rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def settings_key(settings: SourceSettings) -> str:
    """Names a fit by the code and the source settings (a fit made with other settings is another fit), all
    but the edge cutoff, which only planning reads."""
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(SourceSettings) if f.name != "max_dist"}
    return hashlib.sha1(json.dumps({**fields, "code": code_key()}, sort_keys=True).encode()).hexdigest()[:10]


def fit_file(agent: Path, name: str, settings: SourceSettings) -> Path:
    return agent / "subgoals" / f"{name}-{settings_key(settings)}.safetensors"


def networks(source: Generator) -> nn.ModuleDict:
    return nn.ModuleDict({n: getattr(source, n) for n in source.networks})


def fit_and_save(agent: str, name: str, settings: SourceSettings) -> dict:
    """A job's work (in its own process): fit the source as `plan eval` does and save it beside the agent."""
    source = make_source(name, load_agent(agent), settings)
    path = fit_file(Path(agent), name, settings)
    path.parent.mkdir(exist_ok=True)
    write_json(path.with_suffix(".json"), {"source": name, "fit_seconds": source.fit_seconds,
                                           "settings": dataclasses.asdict(settings)})
    save_weights(path, networks(source))  # last: its presence means the fit is complete
    return {"fit_seconds": source.fit_seconds}


class Sources:
    """The agents and fitted sources the plan page uses."""

    def __init__(self, jobs: Jobs):
        self.jobs = jobs
        self.agents: OrderedDict[Path, tuple[float, AgentRun, dict]] = OrderedDict()
        self.lock = threading.Lock()

    def agent(self, path: Path) -> AgentRun:
        """The agent run, loaded once (again if its weights changed)."""
        return self._entry(path)[1]

    def _entry(self, path: Path) -> tuple[float, AgentRun, dict]:
        stamp = (path / "model.safetensors").stat().st_mtime
        with self.lock:
            entry = self.agents.get(path)
            if entry is None or entry[0] != stamp:
                entry = (stamp, load_agent(path), {})
                self.agents[path] = entry
            self.agents.move_to_end(path)
            while len(self.agents) > KEPT:
                self.agents.popitem(last=False)
            return entry

    def source(self, path: Path, name: str, settings: SourceSettings) -> Source | Job:
        """The fitted source, or the job fitting it (a learned source not fitted yet)."""
        _, run, sources = self._entry(path)
        key = (name, settings_key(settings))
        if key in sources:
            return sources[key]
        cls = REGISTRY[name]
        if not issubclass(cls, Generator) or not cls.networks:  # learns nothing: fitted here, at once
            source = make_source(name, run, settings)
        else:
            file = fit_file(path, name, settings)
            if not file.is_file():
                return self.jobs.start(f"fit:{file}", "generator", f"fitting the {name} subgoal generator of "
                                       f"{path.name} ({settings.gen_steps} steps, once)", fit_and_save, str(path),
                                       name, settings)
            source = cls(run, settings)
            source.build()
            source.fit_graph()
            load_weights(file, networks(source))
            networks(source).eval()
            source.fit_seconds = read_json(file.with_suffix(".json"))["fit_seconds"]
        sources[key] = source
        return source
