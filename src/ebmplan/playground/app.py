"""The playground's web app: the two pages and their static files, the energy page's websocket, and the JSON
endpoints of both pages. Bad input is answered with status 400 and `{"error": one sentence}`, never a
traceback; every request body is bounded (limits.py).

    GET  /, /energy, /plan                   the pages
    GET  /api/status                         trainings running, the cap, sessions, jobs
    GET  /api/energy/datasets[/{name}]       bundled data sets, losses and the default recipe; one set's points
    POST /api/energy/upload?filename=F       a .npy or .csv file of points (the body) -> its points
    WS   /ws/energy                          one tab's training (energy_session.py)
    GET  /api/maps                           bundled maps
    POST /api/maze                           a map (bundled, drawn or a file's text), scaled -> what the page draws
    GET  /api/agents, POST /api/agents       agent runs under --runs; train one on the page's map
    POST /api/agents/resume                  continue an interrupted agent
    GET  /api/jobs, GET|DELETE /api/jobs/ID  background jobs: state and progress; stop one
    POST /api/plan                           one planned episode (or the job fitting its generator)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..common.errors import ConfigError, Divergence
from . import agents, plan_api
from .energy_session import EnergySession
from .folders import RunsFolder
from .jobs import Jobs, Slots
from .limits import MAX_BODY_BYTES
from .recipe import dataset_points, page_defaults, read_upload

STATIC = Path(__file__).with_name("static")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class BoundedBodies:
    """Refuse request bodies over MAX_BODY_BYTES, by their declared length or as they arrive."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return await _too_large(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise ConfigError(_TOO_LARGE)
            return message

        await self.app(scope, counted, send)


_TOO_LARGE = f"the request is larger than {MAX_BODY_BYTES // 2**20} MB, the most the playground takes"


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": _TOO_LARGE}, status_code=413)(scope, receive, send)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError("the request is not JSON") from None


def make_app(runs: RunsFolder, *, max_trainings: int = 2, hosts: tuple[str, ...] | None = None) -> Starlette:
    """The app serving `runs`. `hosts`: the only Host (and websocket Origin) names accepted (None: any), which
    keeps other web sites out of a playground that listens on this machine only."""
    slots = Slots(max_trainings)
    jobs = Jobs(slots)
    planner = plan_api.Planner(runs, jobs)
    sessions: set[EnergySession] = set()

    def page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve_page(request: Request) -> Response:
            return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})
        return serve_page

    def answer(function: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint that calls `function(request body or None, path parameters)` in a worker thread."""
        async def endpoint(request: Request) -> Response:
            body = await _json(request) if request.method in ("POST", "PUT") else None
            result = await run_in_threadpool(function, body, **request.path_params)
            return JSONResponse(result)
        return endpoint

    async def energy_socket(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if hosts is not None and origin is not None and urlsplit(origin).hostname not in hosts:
            await websocket.close(code=1008)
            return
        session = EnergySession(websocket, runs, slots)
        sessions.add(session)
        try:
            await session.run()
        finally:
            sessions.discard(session)

    async def upload(request: Request) -> Response:
        body = await request.body()
        points = await run_in_threadpool(read_upload, body, request.query_params.get("filename", ""), runs)
        return JSONResponse({"points": points.tolist(), "count": len(points)})

    def status(body: None) -> dict:
        return {"trainings": slots.held, "cap": slots.cap, "sessions": len(sessions),
                "training_sessions": sum(s.worker is not None and s.holds_slot for s in sessions),
                "jobs": [job.status() for job in jobs.all()], "runs": str(runs.root)}

    def train_agent(body: Any) -> dict:
        job, command = agents.start_training(runs, jobs, body)
        return {"job": job.status(), "command": command}

    def resume_agent(body: Any) -> dict:
        name = body.get("agent") if isinstance(body, dict) else None
        return {"job": agents.resume_training(runs, jobs, name).status()}

    def job_status(body: None, job_id: str) -> dict:
        return jobs.get(job_id).status()

    async def job(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if request.method == "DELETE":
            return JSONResponse((await run_in_threadpool(jobs.stop, job_id)).status())
        return JSONResponse(await run_in_threadpool(job_status, None, job_id))

    async def agents_endpoint(request: Request) -> Response:
        if request.method == "POST":
            return await answer(train_agent)(request)
        return JSONResponse({"agents": await run_in_threadpool(agents.list_agents, runs, jobs)})

    async def bad_request(request: Request, err: Exception) -> Response:
        return JSONResponse({"error": str(err)}, status_code=400)

    async def not_found(request: Request, err: Exception) -> Response:
        status_code = getattr(err, "status_code", 404)
        detail = "no such page or endpoint" if status_code == 404 else getattr(err, "detail", "")
        return JSONResponse({"error": f"{request.url.path}: {detail}"}, status_code=status_code)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        jobs.close()

    routes = [
        Route("/", page("energy.html")),
        Route("/energy", page("energy.html")),
        Route("/plan", page("plan.html")),
        Mount("/static", StaticFiles(directory=STATIC)),
        Route("/api/status", answer(status)),
        Route("/api/energy/datasets", answer(lambda body: page_defaults())),
        Route("/api/energy/datasets/{name}", answer(lambda body, name: {
            "points": dataset_points(name).round(4).tolist()})),
        Route("/api/energy/upload", upload, methods=["POST"]),
        WebSocketRoute("/ws/energy", energy_socket),
        Route("/api/maps", answer(lambda body: {"maps": plan_api.bundled()})),
        Route("/api/maze", answer(lambda body: plan_api.maze_of(body, runs)), methods=["POST"]),
        Route("/api/agents", agents_endpoint, methods=["GET", "POST"]),
        Route("/api/agents/resume", answer(resume_agent), methods=["POST"]),
        Route("/api/jobs", answer(lambda body: {"jobs": [j.status() for j in jobs.all()]})),
        Route("/api/jobs/{job_id}", job, methods=["GET", "DELETE"]),
        Route("/api/plan", answer(lambda body: planner.plan(body)), methods=["POST"]),
    ]
    middleware = [Middleware(BoundedBodies)]
    if hosts is not None:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts)))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={ConfigError: bad_request, Divergence: bad_request, HTTPException: not_found})
    app.state.sessions, app.state.jobs, app.state.slots = sessions, jobs, slots
    return app
