"""The energy page's training, in its own process (one per tab): `ebmplan train`'s own `ContrastiveFit`, stepped
between frames, so the same recipe gives the same model; with pause and resume, a frame every `FRAME_SECONDS`
of training, particles, and "save as run folder".

The process talks over one pipe. In: ("pause",), ("resume",), ("stop",), ("particle", id, x, y),
("save", folder). Out: ("started", info), ("frame", frame), ("particle", result), ("saved", info),
("error", sentence), or ("fatal", sentence) just before it ends (bad data, divergence). A closed pipe stops it,
so a closed tab's training ends and its memory goes with the process.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import time
from multiprocessing.connection import Connection
from pathlib import Path

import torch

from ..common.errors import ConfigError, Divergence
from ..common.runs import Run, rng_state, seed_everything, set_rng_state
from ..points.contrastive_fit import ContrastiveFit
from ..points.toy2d import load_data
from ..points.train import LOG_COLUMNS, build_energy, measure
from ..points.train_config import TrainConfig
from .landscape import Landscape
from .limits import FRAME_SECONDS


class Trainer:
    """One model being trained; `view` is the plane the page shows ((low, high) corners, in the data's units)."""

    def __init__(self, cfg: TrainConfig, view: tuple[list[float], list[float]]):
        self.cfg = cfg
        self.data = data = load_data(cfg.data, seed=cfg.seed, standardise=cfg.standardise)
        seed_everything(cfg.seed)
        self.fit = ContrastiveFit(cfg, data, build_energy(cfg, data.dim))
        self.seconds = 0.0  # wall-clock seconds while training ran (frames included)
        self.clock_start: float | None = None  # while running: when `seconds` would have been 0
        self.rows: list[tuple[int, dict]] = []  # metrics.csv rows, as `ebmplan train` logs them
        self.landscape = Landscape(cfg, data, (torch.tensor(view[0]), torch.tensor(view[1])))

    @property
    def step(self) -> int:
        return self.fit.step

    @property
    def finished(self) -> bool:
        return self.fit.finished

    @property
    def model(self):
        """The model the page shows and a saved run keeps: the moving average of the weights."""
        return self.fit.model

    def elapsed(self) -> float:
        return self.seconds if self.clock_start is None else time.perf_counter() - self.clock_start

    def run_clock(self, running: bool) -> None:
        """Count time while training runs (and the page watches it), not while it is paused or finished."""
        if running and self.clock_start is None:
            self.clock_start = time.perf_counter() - self.seconds
        elif not running and self.clock_start is not None:
            self.seconds, self.clock_start = self.elapsed(), None

    def train_step(self) -> None:
        """One step of `ebmplan train`'s loop, with its validation check every `log_every` steps."""
        if self.fit.train_step():
            self.rows.append((self.step, {**self.fit.check(), "seconds": f"{self.elapsed():.3f}"}))

    def frame(self, state: str, rows_sent: int) -> dict:
        """The heat map, samples, the last step's negatives, loss and energy gap, the metrics.csv rows since
        `rows_sent`, the step and the speed."""
        t0 = time.perf_counter()
        best = self.fit.best
        out = {"state": state, "step": self.step, "steps": self.cfg.steps, "best_step": best.step,
               "stopped_early": best.stopped,
               "steps_per_second": self.step / self.elapsed() if self.elapsed() else 0.0,
               "heat": self.landscape.heat(self.model), "samples": self.landscape.samples(self.model),
               "negatives": {}, "loss": None, "energy_gap": None,
               "rows": [{"step": s, **{k: float(v) for k, v in row.items()}} for s, row in self.rows[rows_sent:]]}
        if self.fit.last is not None:
            last = self.fit.last
            out["negatives"] = self.landscape.negatives(last.neg, self.fit.negatives.counts(self.cfg.n_negatives))
            out["loss"], out["energy_gap"] = float(last.loss), float(last.e_neg.mean() - last.e_pos.mean())
        out["frame_ms"] = 1e3 * (time.perf_counter() - t0)
        return out

    def save(self, folder: Path, points_file: Path | None) -> TrainConfig:
        """Write a run folder as `ebmplan train` writes one (config.json, system.json, checkpoint, weights,
        metrics.csv, metrics.json, samples.npy, landscape.png) for the steps done so far, keeping the model
        early stopping keeps; painted points go in with it as points.npy. Returns the saved config."""
        if self.step == 0:
            raise ConfigError("train at least one step before saving a run folder")
        data = str(folder / "points.npy") if points_file is not None else self.cfg.data
        cfg = dataclasses.replace(self.cfg, data=data, steps=self.step, out=str(folder))
        run = Run.start(cfg, "energy", "train")
        if points_file is not None:
            shutil.copyfile(points_file, folder / "points.npy")
        best, rows = self.fit.best, list(self.rows)
        if not rows or rows[-1][0] != self.step:  # `ebmplan train --steps N` checks at its last step too
            best = copy.deepcopy(best)  # on a copy: the page's training goes on as it would have
            rows.append((self.step, {**self.fit.check(best), "seconds": f"{self.elapsed():.3f}"}))
        run.save_checkpoint({**self.fit.state_dict(), "best": best.state_dict(), "train_seconds": self.elapsed()})
        kept = self.fit.kept(best)
        run.save_weights(kept)
        log = run.log(LOG_COLUMNS)
        for step, row in rows:
            log.write(step, row)
        log.close()
        training_rng = rng_state()  # measuring seeds its own inference; training may go on after the save
        measure(kept, self.data, cfg, run.path, self.elapsed(), steps=best.last_step or self.step,
                best_step=best.step)
        set_rng_state(training_rng)
        return cfg


def serve(conn: Connection, cfg: TrainConfig, view: tuple[list[float], list[float]], points_file: str | None) -> None:
    """The process's main loop: train while running, a frame every FRAME_SECONDS (and on every change of
    state), and an answer to every message."""
    try:
        trainer = Trainer(cfg, view)
    except ConfigError as err:
        conn.send(("fatal", str(err)))
        return
    conn.send(("started", {"steps": cfg.steps, "box": [trainer.data.low.tolist(), trainer.data.high.tolist()]}))
    running, show, rows_sent, next_frame = True, True, 0, 0.0
    try:
        while True:
            busy = running and not trainer.finished
            trainer.run_clock(busy)
            if conn.poll(0 if busy else 0.25):
                message = conn.recv()
                if message[0] == "stop":
                    return
                if message[0] in ("pause", "resume"):
                    running, show = message[0] == "resume", True
                elif message[0] == "particle":
                    conn.send(("particle", {"id": message[1], **trainer.landscape.particle(
                        trainer.model, message[2], message[3])}))
                elif message[0] == "save":
                    try:
                        saved = trainer.save(Path(message[1]), None if points_file is None else Path(points_file))
                        conn.send(("saved", {"config": dataclasses.asdict(saved)}))
                    except ConfigError as err:
                        conn.send(("error", str(err)))
                continue
            if busy:
                trainer.train_step()
                show = show or time.perf_counter() >= next_frame or trainer.finished
            if show:
                state = "finished" if trainer.finished else "training" if running else "paused"
                conn.send(("frame", trainer.frame(state, rows_sent)))
                rows_sent, show = len(trainer.rows), False
                next_frame = time.perf_counter() + FRAME_SECONDS
    except Divergence as err:
        conn.send(("fatal", str(err)))
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        return  # the tab went away, or the server stopped
