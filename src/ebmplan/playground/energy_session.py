"""One tab of the energy page: its websocket, its training process (trainer.py) and its scratch points file.

The page sends JSON requests, `{"op": ...}`: train (recipe, data or points, view), pause, resume, reset,
particle (id, x, y) and save (name). The session answers with `{"type": ...}`: started, frame, particle, saved,
stopped, or error with one sentence (after which a training that could not go on has ended). Frames go out as
fast as the page takes them and no faster: a frame that arrives while the previous one is still being sent
replaces the one waiting. When the tab closes, the training process is stopped and its slot, memory and scratch
file freed.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..common.errors import ConfigError
from ..points.toy2d import DATASETS
from ..points.train_config import TrainConfig
from . import trainer
from .folders import RunsFolder
from .jobs import Slots, Worker
from .recipe import command_line, points_array, recipe_config

OPS = ("train", "pause", "resume", "reset", "particle", "save")


class EnergySession:
    def __init__(self, websocket: WebSocket, runs: RunsFolder, slots: Slots):
        self.websocket, self.runs, self.slots = websocket, runs, slots
        self.worker: Worker | None = None
        self.holds_slot = False
        self.points_file: Path | None = None
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()
        self.frame: dict | None = None  # the newest frame not yet sent

    async def run(self) -> None:
        """Serve the tab until it closes."""
        await self.websocket.accept()
        sender = asyncio.create_task(self.send_loop())
        try:
            while True:
                text = await self.websocket.receive_text()
                try:
                    await self.handle(_request(text))
                except ConfigError as err:
                    self.post({"type": "error", "message": str(err)})
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            await self.stop()
            self.runs.remove_scratch(self.points_file)

    def post(self, message: dict) -> None:
        if message["type"] == "frame":
            pending = self.frame is not None
            self.frame = message
            if pending:
                return  # the waiting frame is replaced, not queued behind
        self.outbox.put_nowait(message)

    async def send_loop(self) -> None:
        while True:
            message = await self.outbox.get()
            if message["type"] == "frame":
                message, self.frame = self.frame, None
            try:
                await self.websocket.send_text(json.dumps(message))
            except (WebSocketDisconnect, RuntimeError):
                return

    async def handle(self, request: dict) -> None:
        op = request.get("op")
        if op not in OPS:
            raise ConfigError(f"unknown request {str(op)[:40]!r}; the page sends one of: {', '.join(OPS)}")
        if op == "train":
            await self.train(request)
        elif op == "reset":
            await self.stop()
            self.post({"type": "stopped"})
        elif self.worker is None:
            raise ConfigError("nothing is trained yet: paint points or pick a data set, then press Train")
        elif op in ("pause", "resume"):
            self.worker.send((op,))
        elif op == "particle":
            x, y = _number(request, "x"), _number(request, "y")
            self.worker.send(("particle", request.get("id"), x, y))
        else:
            self.worker.send(("save", str(self.runs.new_run(request.get("name")))))

    async def train(self, request: dict) -> None:
        """Check everything, then replace the tab's training with a new one."""
        points, data = request.get("points"), request.get("data")
        view = _view(request.get("view"))
        if points is not None:
            arr = points_array(points)
            source = None
        elif isinstance(data, str) and data in DATASETS:
            arr, source = None, data
        elif data:
            raise ConfigError(f"unknown data set {str(data)[:40]!r}; choose one of {', '.join(DATASETS)}")
        else:
            raise ConfigError("the canvas is empty: paint some points or pick a data set first")
        recipe_config(request.get("recipe", {}), source or "spiral")  # every option checked before anything stops
        await self.stop()
        if arr is not None:
            self.runs.remove_scratch(self.points_file)
            self.points_file = self.runs.scratch_file(".npy")
            np.save(self.points_file, arr)
            source = str(self.points_file)
        cfg = recipe_config(request.get("recipe", {}), source)
        self.slots.take("a training")
        self.holds_slot = True
        try:
            self.worker = Worker(trainer.serve, cfg, view, None if arr is None else str(self.points_file))
        except OSError as err:  # no process could be started: the slot goes back
            self.release()
            raise ConfigError(f"the training process could not start ({err.strerror})") from None
        asyncio.get_running_loop().add_reader(self.worker.conn.fileno(), self.receive, self.worker)

    def receive(self, worker: Worker) -> None:
        """Called by the event loop when the training process has said something (or ended)."""
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "fatal":  # the process has stopped training and ends
                    self.post({"type": "error", "message": payload})
                    self.detach(worker)
                    return
                if kind == "frame" and payload["state"] == "finished":
                    self.release()
                if kind == "saved":
                    payload = self.saved(payload)
                elif kind == "error":
                    payload = {"message": payload}
                self.post({"type": kind, **payload})
        except (EOFError, OSError):
            if worker is self.worker:
                self.post({"type": "error", "message": "the training process ended unexpectedly"})
            self.detach(worker)

    def detach(self, worker: Worker) -> None:
        """Forget a process that ended by itself, and reap it."""
        asyncio.get_running_loop().remove_reader(worker.conn.fileno())
        if worker is self.worker:
            self.worker = None
            self.release()
        asyncio.get_running_loop().create_task(asyncio.to_thread(worker.stop))

    def saved(self, payload: dict) -> dict:
        cfg = TrainConfig(**payload["config"])
        path = Path(cfg.out)
        return {"name": self.runs.name_of(path), "folder": str(path), "command": command_line(cfg),
                "python": f"from ebmplan import load_run; run = load_run({str(path)!r})"}

    def release(self) -> None:
        if self.holds_slot:
            self.holds_slot = False
            self.slots.give()

    async def stop(self) -> None:
        """Stop the tab's training process (if any) and free its slot."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        try:
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
        except (OSError, ValueError):
            pass
        self.release()
        await asyncio.to_thread(worker.stop)


def _request(text: str) -> dict:
    try:
        request = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError("the page sent a request that is not JSON") from None
    if not isinstance(request, dict):
        raise ConfigError("the page sent a request that is not a JSON object")
    return request


def _number(request: dict, name: str) -> float:
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number")
    return float(value)


def _view(view: Any) -> tuple[list[float], list[float]]:
    """The plane the page shows, [[x0, y0], [x1, y1]] with x0 < x1 and y0 < y1."""
    try:
        (x0, y0), (x1, y1) = view
        low, high = [float(x0), float(y0)], [float(x1), float(y1)]
    except (TypeError, ValueError):
        raise ConfigError("the view must be two corners [[x0, y0], [x1, y1]]") from None
    if not all(math.isfinite(v) and abs(v) < 1e6 for v in low + high) or not (x0 < x1 and y0 < y1):
        raise ConfigError("the view must have finite corners with x0 < x1 and y0 < y1")
    return low, high
