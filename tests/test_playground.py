"""The playground's server, in process (starlette's TestClient): every endpoint, the energy page's websocket, the
bad inputs (one sentence, status 400, no traceback), the cap on trainings, a closed tab's process ended, run
folders that `load_run` and `ebmplan train` agree with, and the plan page on a small agent trained here."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("starlette", reason="the playground extra is not installed: pip install 'ebmplan[playground]'")
from safetensors.torch import load_file  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from ebmplan import load_run  # noqa: E402
from ebmplan.common.errors import ConfigError  # noqa: E402
from ebmplan.playground.app import make_app  # noqa: E402
from ebmplan.playground.command import PlaygroundConfig, serve  # noqa: E402
from ebmplan.playground.folders import RunsFolder  # noqa: E402
from ebmplan.playground.limits import CHAINS, GRID  # noqa: E402
from ebmplan.playground.recipe import command_line  # noqa: E402
from ebmplan.points.train import TrainConfig, train  # noqa: E402

VIEW = [[-2.5, -2.5], [2.5, 2.5]]
SMALL = {"width": 16, "depth": 2, "steps": 60}
WITH_HARD = "uniform:0.5,perturb:0.25,hard:0.25"  # the page shows each kind of negative the trainer uses


@pytest.fixture
def runs(tmp_path) -> RunsFolder:
    return RunsFolder(tmp_path / "runs")


@pytest.fixture
def client(runs):
    with TestClient(make_app(runs, max_trainings=1)) as c:
        yield c


def ring(n=300, seed=0) -> list:
    a = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(a), np.sin(a)], 1).round(4).tolist()


def receive(ws, kind: str, timeout: float = 120) -> dict:
    """The next message of `kind` (frames and others skipped); an error message fails the test."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = json.loads(ws.receive_text())
        if m["type"] == kind:
            return m
        assert m["type"] != "error" or kind == "error", m
    raise AssertionError(f"no {kind} message in {timeout} s")


def error_of(ws, request: dict) -> str:
    ws.send_text(json.dumps(request))
    return receive(ws, "error")["message"]


def test_pages_and_their_files_are_served_and_need_no_network(client):
    for path in ("/", "/energy", "/plan"):
        page = client.get(path)
        assert page.status_code == 200 and "<canvas" in page.text
    static = Path(__file__).parents[1] / "src/ebmplan/playground/static"
    for f in static.iterdir():
        assert client.get(f"/static/{f.name}").status_code == 200
        text = f.read_text()
        assert "http://" not in text and "https://" not in text, f"{f.name} names a network address"
    assert client.get("/nowhere").json()["error"].startswith("/nowhere")


def test_defaults_bundled_sets_and_uploads_read_like_ebmplan_train(client, tmp_path):
    choices = client.get("/api/energy/datasets").json()
    assert "spiral" in choices["datasets"] and "margin" in choices["losses"]
    assert choices["recipe"] == {name: getattr(TrainConfig(), name) for name in choices["recipe"]}  # the CLI's
    points = client.get("/api/energy/datasets/spiral").json()["points"]
    assert len(points) > 1000 and len(points[0]) == 2
    assert "unknown data set 'nope'" in client.get("/api/energy/datasets/nope").json()["error"]

    def upload(name: str, body: bytes):
        return client.post(f"/api/energy/upload?filename={name}", content=body)

    good = upload("ring.csv", "\n".join(f"{x},{y}" for x, y in ring()).encode())
    assert good.status_code == 200 and good.json()["count"] == 300
    np.save(tmp_path / "pts.npy", np.array(ring()))
    assert upload("pts.npy", (tmp_path / "pts.npy").read_bytes()).json()["count"] == 300
    for name, body, says in [
        ("bad.csv", b"1,2\nthree,four\n", "data file bad.csv could not be read as csv numbers"),
        ("short.csv", b"1,2\n3,4\n", "data file short.csv has 2 points"),
        ("three.csv", "\n".join(f"{i},{i % 7},{i % 3}" for i in range(100)).encode(), "3-dimensional points"),
        ("pts.txt", b"1,2", "upload a .npy or .csv file"),
        ("junk.npy", b"not numpy", "data file junk.npy could not be read as npy"),
    ]:
        reply = upload(name, body)
        assert reply.status_code == 400 and says in reply.json()["error"], reply.json()
        assert "/.playground/" not in reply.json()["error"]  # the scratch path is never shown
    too_big = upload("big.csv", b"0" * (3 * 2**20))
    assert too_big.status_code == 413 and "larger than 2 MB" in too_big.json()["error"]


def test_a_tab_trains_streams_frames_drops_a_particle_and_saves_a_run_the_cli_reproduces(client, runs, tmp_path):
    points = ring()
    with client.websocket_connect("/ws/energy") as ws:
        ws.send_text(json.dumps({"op": "train", "recipe": {**SMALL, "steps": 3000, "negatives": WITH_HARD},
                                 "points": points, "view": VIEW}))
        first = receive(ws, "frame")
        assert first["heat"]["size"] == GRID and len(first["heat"]["grid"]) == GRID
        assert len(first["samples"]) == CHAINS
        ws.send_text(json.dumps({"op": "pause"}))
        paused = receive(ws, "frame")
        while paused["state"] != "paused":
            paused = receive(ws, "frame")
        ws.send_text(json.dumps({"op": "particle", "id": 7, "x": 2.0, "y": 2.0}))
        particle = receive(ws, "particle")
        assert particle["id"] == 7 and len(particle["path"]) >= 2 and particle["path"][0] == [2.0, 2.0]
        ws.send_text(json.dumps({"op": "resume"}))
        later = receive(ws, "frame")
        while later["step"] <= paused["step"] + 100:
            later = receive(ws, "frame")
        assert later["heat"]["grid"] != first["heat"]["grid"]  # the landscape changed
        assert later["loss"] is not None and set(later["negatives"]) == {"uniform", "perturb", "hard"}
        ws.send_text(json.dumps({"op": "pause"}))
        ws.send_text(json.dumps({"op": "save", "name": "painted"}))
        saved = receive(ws, "saved")
        assert "a run name is" in error_of(ws, {"op": "save", "name": "../outside"})
        assert "exists already" in error_of(ws, {"op": "save", "name": "painted"})
    folder = Path(saved["folder"])
    assert folder == runs.root / "painted" and saved["name"] == "painted"
    for name in ("config.json", "system.json", "checkpoint.pt", "model.safetensors", "metrics.csv", "metrics.json",
                 "samples.npy", "landscape.png", "points.npy"):
        assert (folder / name).is_file(), name
    assert np.array_equal(np.load(folder / "points.npy"), np.array(points))
    run = load_run(folder)  # from Python
    assert run.config.data == str(folder / "points.npy") and run.config.width == 16
    steps = run.config.steps
    assert saved["command"] == command_line(run.config)
    assert saved["command"].startswith(f"ebmplan train --data {folder / 'points.npy'} --width 16 --depth 2")
    # The same recipe from the command line's own trainer gives the same model, row for row the same log.
    cli = train(TrainConfig(data=str(folder / "points.npy"), width=16, depth=2, steps=steps, negatives=WITH_HARD,
                            out=str(tmp_path / "cli")))
    page, own = load_file(folder / "model.safetensors"), load_file(cli / "model.safetensors")
    assert all(torch.equal(page[k], own[k]) for k in own)
    untimed = [row.rsplit(",", 1)[0] for row in (folder / "metrics.csv").read_text().splitlines()]
    assert untimed == [row.rsplit(",", 1)[0] for row in (cli / "metrics.csv").read_text().splitlines()]


def test_bad_requests_get_one_sentence_and_start_nothing(client):
    with client.websocket_connect("/ws/energy") as ws:
        cases = [
            ({"op": "train", "points": [], "view": VIEW}, "the canvas is empty"),
            ({"op": "train", "view": VIEW}, "the canvas is empty"),
            ({"op": "train", "points": [[0, 0]] * 20001, "view": VIEW}, "too many points: 20001"),
            ({"op": "train", "points": [[0, 0]] * 5, "view": VIEW}, "only 5 points"),
            ({"op": "train", "points": [["a", 1]] * 60, "view": VIEW}, "pairs of numbers"),
            ({"op": "train", "data": "nope", "view": VIEW}, "unknown data set 'nope'"),
            ({"op": "train", "data": "spiral", "view": [[1, 1], [0, 0]]}, "the view must"),
            ({"op": "train", "data": "spiral", "view": VIEW, "recipe": {"colour": 1}}, "unknown option 'colour'"),
            ({"op": "train", "data": "spiral", "view": VIEW, "recipe": {"loss": "nope"}}, "unknown loss 'nope'"),
            ({"op": "train", "data": "spiral", "view": VIEW, "recipe": {"width": 10**6}}, "--width must lie between"),
            ({"op": "train", "data": "spiral", "view": VIEW, "recipe": {"steps": 2.5}}, "whole number"),
            ({"op": "train", "data": "spiral", "view": VIEW, "recipe": {"negatives": "mismatched"}},
             "need a conditional task"),
            ({"op": "particle", "x": 0, "y": 0}, "nothing is trained yet"),
            ({"op": "save", "name": "x"}, "nothing is trained yet"),
            ({"op": "dance"}, "unknown request 'dance'"),
        ]
        for request, says in cases:
            assert says in error_of(ws, request), request
        ws.send_text("not json")
        assert "not JSON" in receive(ws, "error")["message"]
    assert client.get("/api/status").json()["trainings"] == 0


def test_trainings_are_capped_and_a_closed_tab_frees_its_process(client):
    app = client.app
    train_request = {"op": "train", "data": "spiral", "recipe": {**SMALL, "steps": 100000}, "view": VIEW}
    with client.websocket_connect("/ws/energy") as first:
        first.send_text(json.dumps(train_request))
        receive(first, "frame")
        (session,) = app.state.sessions
        process = session.worker.process
        with client.websocket_connect("/ws/energy") as second:
            message = error_of(second, train_request)
            assert "1 trainings are running already" in message and "--max-trainings 1" in message
        assert client.get("/api/status").json()["trainings"] == 1
    deadline = time.time() + 20
    while process.is_alive() and time.time() < deadline:
        time.sleep(0.1)
    assert not process.is_alive(), "the closed tab's training process still runs"
    status = client.get("/api/status").json()
    assert status["trainings"] == 0 and status["sessions"] == 0


def test_maps_bundled_drawn_and_loaded(client, runs):
    maps = client.get("/api/maps").json()["maps"]
    assert {"name": "FourRooms", "height": 11, "width": 11} in maps
    four = client.post("/api/maze", json={"map": {"name": "FourRooms", "resize": 2}}).json()
    assert four["height"] == 22 and len(four["walls"]) == 22 and len(four["rows"]) == 11
    drawn = client.post("/api/maze", json={"map": {"rows": ["#####", "#...#", "#####"], "resize": 3}}).json()
    assert drawn["height"] == 9 and drawn["name"].startswith("drawn-")
    assert (runs.root / "maps" / f"{drawn['name']}.txt").is_file()  # kept in --runs, for `maze train --map`
    loaded = client.post("/api/maze", json={"text": "== tiny 3x4\n####\n#..#\n####\n", "resize": 1}).json()
    assert loaded["rows"] == ["####", "#..#", "####"]
    for body, says in [
        ({"map": {"name": "Nowhere"}}, "unknown map 'Nowhere'"),
        ({"map": {"rows": ["#.#.#", "#####"]}}, "separate free regions"),
        ({"map": {"rows": ["####"]}}, "has no free cell"),
        ({"map": {"rows": ["." * 40]}}, "1 to 32 rows of 1 to 32 cells; got 1 rows of up to 40"),
        ({"map": {"rows": ["#x#"]}}, "unknown character 'x'"),
        ({"map": {"name": "FourRooms", "resize": 20}}, "resize must be a whole number from 1 to 8"),
        ({"map": {"name": "Galton", "resize": 8}}, "at most 160 a side"),
        ({"map": {"name": "FourRooms", "colour": 1}}, "unknown map option 'colour'"),
        ({"text": "== a\n..\n== b\n..\n"}, "holds 2 maps"),
    ]:
        reply = client.post("/api/maze", json=body)
        assert reply.status_code == 400 and says in reply.json()["error"], (body, reply.json())
    assert "not JSON" in client.post("/api/maze", content=b"{").json()["error"]


def test_plan_one_episode_with_an_agent_under_runs(client, runs, small_agent):
    shutil.copytree(small_agent, runs.root / "fourrooms-x2")
    (listed,) = client.get("/api/agents").json()["agents"]
    four = client.post("/api/maze", json={"map": {"name": "FourRooms", "resize": 2}}).json()
    assert listed["name"] == "fourrooms-x2" and listed["state"] == "ready" and listed["key"] == four["key"]
    request = {"agent": "fourrooms-x2", "map": {"name": "FourRooms", "resize": 2}, "start": [2.5, 2.5],
               "goal": [19.5, 19.5], "source": "uniform", "nodes": 60, "max_steps": 200, "max_dist": 15}
    result = client.post("/api/plan", json=request).json()
    assert len(result["candidates"]) == 60 and result["steps"] <= 200
    assert result["path"][0] == [2.5, 2.5] and len(result["path"]) == result["steps"] + 1
    assert result["edge_count"] > 0 and result["shortest_path"] > 10
    assert all(0 <= i < 60 for i in result["route"]) and len(result["waypoints"]) == len(result["route"])
    assert client.post("/api/plan", json=request).json()["path"] == result["path"]  # the same request, same episode
    sgm = client.post("/api/plan", json={**request, "source": "sgm", "nodes": 20}).json()
    assert len(sgm["candidates"]) <= 20
    route = client.post("/api/plan", json={**request, "source": "route", "nodes": 20}).json()  # learns nothing:
    assert "job" not in route and 1 <= len(route["candidates"]) <= 20  # planned at once, nodes stop at the cap
    for change, says in [
        ({"start": [10.5, 10.5]}, "the start (10.5, 10.5) is inside a wall"),
        ({"goal": [50, 50]}, "outside the 22x22 map"),
        ({"start": None}, "click a start on the map first"),
        ({"map": {"name": "FourRooms", "resize": 3}}, "was trained on FourRooms x2 (22x22 cells), not on the map"),
        ({"source": "oracle"}, "unknown candidate source 'oracle'"),
        ({"nodes": 5000}, "nodes must be a whole number from 1 to 1000"),
        ({"max_dist": 0}, "the edge cutoff must be a number above 0"),
        ({"agent": "../fourrooms-x2"}, "no run folder '../fourrooms-x2'"),
        ({"agent": "/etc"}, "no run folder '/etc'"),
        ({"agent": ""}, "pick an agent"),
        ({"speed": 3}, "unknown option 'speed'"),
    ]:
        reply = client.post("/api/plan", json={**request, **change})
        assert reply.status_code == 400 and says in reply.json()["error"], (change, reply.json())


def wait_for(client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] != "running":
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still runs after {timeout} s")


def test_a_learned_source_is_fitted_once_by_a_job_and_kept_beside_the_agent(runs, small_agent, tmp_path):
    agent = shutil.copytree(small_agent, runs.root / "agent")
    request = {"agent": "agent", "map": {"name": "FourRooms", "resize": 2}, "start": [2.5, 2.5],
               "goal": [19.5, 19.5], "source": "cvae", "nodes": 8, "max_steps": 50, "gen_steps": 20}
    with TestClient(make_app(runs)) as client:
        job = client.post("/api/plan", json=request).json()["job"]
        assert job["kind"] == "generator" and wait_for(client, job["id"])["state"] == "finished"
        planned = client.post("/api/plan", json=request).json()
        assert "job" not in planned and len(planned["candidates"]) == 8
    assert list((agent / "subgoals").glob("cvae-*.safetensors"))
    with TestClient(make_app(runs)) as restarted:  # a new server loads the kept fit: no job, the same plan
        assert restarted.post("/api/plan", json=request).json()["candidates"] == planned["candidates"]


def test_an_agent_trains_as_a_background_job_and_can_be_stopped(client, runs):
    reply = client.post("/api/agents", json={"map": {"rows": ["#######", "#.....#", "#.....#", "#######"],
                                                     "resize": 1}, "steps": 40, "name": "drawn-agent"}).json()
    assert reply["command"].startswith("ebmplan maze train --map ") and "--steps 40" in reply["command"]
    assert "1 trainings are running already" in client.post("/api/agents", json={
        "map": {"name": "FourRooms", "resize": 1}, "steps": 40, "name": "other"}).json()["error"]
    job = wait_for(client, reply["job"]["id"])
    assert job["state"] == "finished" and job["progress"] == 1.0, job
    (agent,) = client.get("/api/agents").json()["agents"]
    assert agent["name"] == "drawn-agent" and agent["state"] == "ready" and agent["trained"] == 40
    long = client.post("/api/agents", json={"map": {"name": "FourRooms", "resize": 1}, "steps": 100000,
                                            "name": "long"}).json()
    stopped = client.delete(f"/api/jobs/{long['job']['id']}").json()
    assert stopped["state"] == "stopped" and client.get("/api/status").json()["trainings"] == 0
    for body, says in [
        ({"map": {"name": "FourRooms"}, "steps": 0, "name": "a"}, "steps must be a whole number"),
        ({"map": {"name": "FourRooms"}, "steps": 10, "name": "drawn-agent"}, "exists already"),
        ({"map": {"name": "FourRooms"}, "steps": 10, "name": "a/b"}, "a run name is"),
        ({"map": {"name": "FourRooms"}, "steps": 10, "name": "a", "seed": 3}, "unknown option 'seed'"),
    ]:
        reply = client.post("/api/agents", json=body)
        assert reply.status_code == 400 and says in reply.json()["error"], (body, reply.json())
    assert "no job 'nope'" in client.get("/api/jobs/nope").json()["error"]
    assert "nothing to resume" in client.post("/api/agents/resume", json={"agent": "drawn-agent"}).json()["error"]


def test_only_local_host_names_when_listening_locally(runs):
    with TestClient(make_app(runs, hosts=("127.0.0.1", "localhost")), base_url="http://127.0.0.1") as client:
        assert client.get("/api/maps").status_code == 200
        assert client.get("/api/maps", headers={"Host": "evil.example"}).status_code == 400
        with pytest.raises(WebSocketDisconnect):  # closed at once: another web site may not start trainings here
            with client.websocket_connect("/ws/energy", headers={"Origin": "http://evil.example"}) as ws:
                ws.receive_text()


def test_the_command_says_when_its_port_is_taken(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(PlaygroundConfig(port=port, runs=str(tmp_path / "runs")))
    with pytest.raises(ConfigError, match="--port must be 1 to 65535"):
        serve(PlaygroundConfig(port=70000, runs=str(tmp_path / "runs")))


def test_the_command_serves_the_pages_until_interrupted(tmp_path):
    """`ebmplan playground` through the real CLI: it says where it listens, serves the pages there, and Ctrl-C
    stops it."""
    with socket.create_server(("127.0.0.1", 0)) as free:
        port = free.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ebmplan", "playground", "--port", str(port), "--runs",
                             str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        said = proc.stdout.readline()  # printed once the port is known to be free, before the server starts
        assert f"http://127.0.0.1:{port}/" in said, said
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/energy", timeout=10) as page:
                    status, body = page.status, page.read().decode()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert status == 200 and "<canvas" in body
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
