"""`ebmplan playground`: start the playground's web server on this machine and print its address.

The server needs the `playground` extra (starlette, uvicorn, websockets); without it the command says how to
install it, and every other command works as before.
"""

from __future__ import annotations

import socket
import threading
import webbrowser
from dataclasses import dataclass

from ..common.config import Config
from ..common.errors import ConfigError
from .folders import RunsFolder
from .limits import MAX_MESSAGE_BYTES

try:  # the optional extra: `ebmplan` itself must not need it
    import uvicorn

    from .app import LOCAL_HOSTS, make_app
    MISSING = None
except ImportError as err:
    MISSING = err.name


@dataclass
class PlaygroundConfig(Config):
    """A local web page: paint data and watch the energy landscape; draw a maze and watch the plan."""

    host: str = "127.0.0.1"
    """address to listen on; only this machine can reach the default (another address says so when it starts)"""
    port: int = 8765
    """port to listen on"""
    runs: str = "runs"
    """the folder of run folders: the only place the playground reads and writes (saved runs, agents, maps)"""
    open: bool = False
    """open the page in a web browser"""
    max_trainings: int = 2
    """trainings running at once (energy models, agents and subgoal generators together)"""

    def check(self) -> None:
        self.require(at_least_one=("max_trainings",))
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be 1 to 65535, got {self.port}")


def serve(cfg: PlaygroundConfig) -> None:
    """Serve until interrupted."""
    cfg.validate()
    if MISSING is not None:
        raise ConfigError(f"ebmplan playground needs the playground extra ({MISSING} is not installed): "
                          f"pip install 'ebmplan[playground]'")
    runs = RunsFolder(cfg.runs)
    try:  # a clear sentence for a port in use, before the server starts
        with socket.create_server((cfg.host, cfg.port)):
            pass
    except OSError as err:
        raise ConfigError(f"cannot listen on {cfg.host}:{cfg.port} ({err.strerror}); pick another --port or "
                          f"--host") from None
    local = cfg.host in LOCAL_HOSTS
    app = make_app(runs, max_trainings=cfg.max_trainings, hosts=LOCAL_HOSTS if local else None)
    address = f"http://{'127.0.0.1' if cfg.host == 'localhost' else cfg.host}:{cfg.port}/"
    print(f"ebmplan playground: {address}  (run folders in {runs.root}; Ctrl-C stops it)", flush=True)
    if not local:
        print(f"ebmplan playground: listening on {cfg.host}, not on this machine only: other machines that reach "
              f"this address can use the playground and write into {runs.root}", flush=True)
    if cfg.open:
        threading.Timer(1.0, webbrowser.open, [address]).start()
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", ws_max_size=MAX_MESSAGE_BYTES)
