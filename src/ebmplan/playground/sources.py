"""Candidate sources per agent, made once and kept: in the server's memory (the agents and their sources, a
few at a time), and for the learned ones (cvae, ebm) on disk beside the agent, in `AGENT/subgoals/` (the
source's `state_dict`), so a fit outlives the server. A learned source with no saved fit is fitted by a
background job (`make_source`, as `plan eval` fits it); the plan page waits for it with a progress bar, once per
agent, settings and code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..common.errors import ConfigError
from ..common.files import atomic_path, read_json, write_json
from ..plan.agent.run import AgentRun, load_agent
from ..plan.sources.candidates import Source, SourceSettings
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


def fit_and_save(agent: str, name: str, settings: SourceSettings) -> dict:
    """A job's work (in its own process): fit the source as `plan eval` does and save it beside the agent."""
    source = make_source(name, load_agent(agent), settings)
    path = fit_file(Path(agent), name, settings)
    path.parent.mkdir(exist_ok=True)
    write_json(path.with_suffix(".json"), {"source": name, "fit_seconds": source.fit_seconds,
                                           "settings": dataclasses.asdict(settings)})
    with atomic_path(path) as tmp:  # last: its presence means the fit is complete
        save_file(source.state_dict(), str(tmp))
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
        if not REGISTRY[name].learns:  # fitted here, at once
            source = make_source(name, run, settings)
        else:
            file = fit_file(path, name, settings)
            if not file.is_file():
                return self.jobs.start(f"fit:{file}", "generator", f"fitting the {name} subgoal generator of "
                                       f"{path.name} ({settings.gen_steps} steps, once)", fit_and_save, str(path),
                                       name, settings)
            source = REGISTRY[name](run, settings)
            try:
                source.load_state_dict(load_file(str(file)))
            except (SafetensorError, RuntimeError, OSError) as err:
                raise ConfigError(f"the saved fit {file} is corrupted or does not match the {name} source "
                                  f"({str(err).strip().splitlines()[0][:200]}); delete it to fit again") from None
            source.fit_seconds = read_json(file.with_suffix(".json"))["fit_seconds"]
        sources[key] = source
        return source
