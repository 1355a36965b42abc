"""The playground's training speed with the page open, against the CLI's for the same recipe, and the time of one
landscape update.

Each repeat runs `ebmplan train` (a subprocess, as a user runs it) and then the same recipe in the energy page
(the real server, the real page in headless Chromium: load the set, Train, wait until it finishes). Both trainers
are the same loop on the same data with the same seed, so they train the same steps (early stopping included);
speed is steps over training seconds (the CLI's metrics.csv, the page's own count, both without start-up and
the final measurements). Repeats alternate CLI and page on a shared machine: the ratio is taken per repeat and
its median reported. A frame's time is the server's (heat map over the 64 x 64 grid, the live samples' descent,
negatives) and the page's (colouring the grid, curves, drawing), per frame, median over every frame.

    python benchmarks/playground.py                       # spiral, the default recipe, 3 repeats
    python benchmarks/playground.py --screenshots docs --agent runs/agents/FourRooms-x3   # and the README's pictures

Needs the playground extra, Playwright and Debian's Chromium (see tests/test_playground_browser.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import uvicorn
from playwright.sync_api import Page, sync_playwright

from ebmplan.playground.app import LOCAL_HOSTS, make_app
from ebmplan.playground.folders import RunsFolder

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def cli_speed(data: str, steps: int, out: Path) -> tuple[float, int]:
    """`ebmplan train` on `data` -> (steps per second of training, steps trained)."""
    subprocess.run([sys.executable, "-m", "ebmplan", "train", "--data", data, "--steps", str(steps), "--out", str(out),
                    "--overwrite"], check=True, capture_output=True, env={**os.environ, "CI": "1"})
    last = (out / "metrics.csv").read_text().splitlines()[-1].split(",")
    return int(last[0]) / float(last[-1]), int(last[0])


def start_server(runs: RunsFolder) -> tuple[str, uvicorn.Server]:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(runs, hosts=LOCAL_HOSTS), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def page_training(page: Page, url: str, data: str, steps: int, timeout: float) -> dict:
    """Train `data` in the energy page until it finishes -> its speed, steps and per-frame timings."""
    page.goto(f"{url}/energy")
    page.wait_for_function("document.querySelector('#dataset').options.length > 0")
    page.select_option("#dataset", data)
    page.click("#load-set")
    page.wait_for_function("document.querySelector('#count').textContent.includes('training set')")
    page.fill("#steps", str(steps))
    page.click("#train")
    page.wait_for_function("window.playground.state.frame && window.playground.state.frame.state === 'finished'",
                           timeout=timeout * 1000)
    frame = page.evaluate("window.playground.state.frame")
    timings = page.evaluate("window.playground.timings")
    return {"speed": frame["steps_per_second"], "steps": frame["step"], "frames": len(timings),
            "server_ms": [t["server"] for t in timings], "page_ms": [t["page"] for t in timings]}


def screenshots(page: Page, url: str, folder: Path, agent: str | None) -> None:
    """The README's pictures: the energy page training the spiral, and a plan on the agent's map."""
    page.goto(f"{url}/energy")
    page.wait_for_function("document.querySelector('#dataset').options.length > 0")
    page.click("#load-set")  # the spiral
    page.wait_for_function("document.querySelector('#count').textContent.includes('training set')")
    page.fill("#steps", "2000")
    page.click("#train")
    page.wait_for_function("window.playground.state.frame && window.playground.state.frame.step >= 1200",
                           timeout=600_000)
    page.click("#pause")
    page.wait_for_function("document.querySelector('#status').textContent.includes('paused')")
    box = page.locator("#plane").bounding_box()
    for x, y in ((0.12, 0.15), (0.85, 0.2), (0.5, 0.9)):
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.wait_for_timeout(3000)
    page.screenshot(path=str(folder / "playground_energy.png"))
    if agent is None:
        return
    page.goto(f"{url}/plan")
    page.wait_for_function("window.playground.state.maze !== null")
    name = Path(agent).name
    resize = page.evaluate(f"window.playground.state.agents.find(a => a.name === {name!r}).resize")
    page.fill("#resize", str(resize))
    page.dispatch_event("#resize", "change")
    page.wait_for_function(f"[...document.querySelector('#agent').options].some(o => o.value === {name!r})")
    page.select_option("#agent", name)
    height = page.evaluate("window.playground.state.maze.height")
    box = page.locator("#maze").bounding_box()
    cell = box["width"] / height
    for row, col in ((0.12, 0.1), (0.88, 0.9)):  # top-left room to bottom-right room
        page.mouse.click(box["x"] + col * height * cell, box["y"] + row * height * cell)
    page.fill("#nodes", "300")
    page.click("#plan")
    page.wait_for_selector("#result dt", timeout=120_000)
    page.wait_for_function("window.playground.state.shownSteps === window.playground.state.plan.path.length - 1")
    page.screenshot(path=str(folder / "playground_plan.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="spiral")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, help="also save playground_energy.png and playground_plan.png")
    parser.add_argument("--agent", help="a maze agent run folder for the plan screenshot (copied into the runs)")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no Chromium found: apt-get install chromium")
    work = Path(tempfile.mkdtemp(prefix="playground-bench-"))
    runs = RunsFolder(work / "runs")
    if args.agent:
        shutil.copytree(args.agent, runs.root / Path(args.agent).name)
    url, server = start_server(runs)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for repeat in range(args.repeats):
            cli, cli_steps = cli_speed(args.data, args.steps, work / f"cli-{repeat}")
            shown = page_training(page, url, args.data, args.steps, timeout=1200)
            rows.append({"cli": cli, "cli_steps": cli_steps, **shown, "ratio": shown["speed"] / cli})
            print(f"repeat {repeat + 1}: CLI {cli:.0f} steps/s ({cli_steps} steps), page {shown['speed']:.0f} "
                  f"steps/s ({shown['steps']} steps, {shown['frames']} frames): {shown['speed'] / cli:.2f}", flush=True)
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            screenshots(page, url, args.screenshots, args.agent)
        browser.close()
    server.should_exit = True
    server_ms = [t for r in rows for t in r["server_ms"]]
    page_ms = [t for r in rows for t in r["page_ms"]]
    fps = [r["frames"] / (r["steps"] / r["speed"]) for r in rows]
    print(f"\n{args.data}, {args.steps} steps, default recipe, {args.repeats} repeats, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| figure | median | range |\n|---|---|---|")
    ratios = [r["ratio"] for r in rows]
    print(f"| CLI training speed (steps/s) | {statistics.median(r['cli'] for r in rows):.0f} | "
          f"{min(r['cli'] for r in rows):.0f}-{max(r['cli'] for r in rows):.0f} |")
    print(f"| page open: training speed (steps/s) | {statistics.median(r['speed'] for r in rows):.0f} | "
          f"{min(r['speed'] for r in rows):.0f}-{max(r['speed'] for r in rows):.0f} |")
    print(f"| page / CLI, per repeat | {statistics.median(ratios):.2f} | {min(ratios):.2f}-{max(ratios):.2f} |")
    print(f"| frames per second of training | {statistics.median(fps):.1f} | {min(fps):.1f}-{max(fps):.1f} |")
    print(f"| one landscape update, server (ms) | {statistics.median(server_ms):.1f} | "
          f"{min(server_ms):.1f}-{max(server_ms):.1f} |")
    print(f"| one landscape update, page (ms) | {statistics.median(page_ms):.1f} | "
          f"{min(page_ms):.1f}-{max(page_ms):.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
