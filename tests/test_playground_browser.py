"""The playground's pages in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright, against
the real server (uvicorn, in a thread). Without a browser or Playwright these tests skip with the reason, except
where EBMPLAN_BROWSER_TESTS=required (.ci/run sets it): there a missing browser fails them."""

import math
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # a real browser and server: make test-e2e
pytest.importorskip("starlette", reason="the playground extra is not installed: pip install 'ebmplan[playground]'")
from ebmplan.playground.app import LOCAL_HOSTS, make_app  # noqa: E402
from ebmplan.playground.folders import RunsFolder  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Debian's Chromium as root, on a machine without a display or network (Playwright downloads no browser here).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install 'ebmplan[dev]')"
    if CHROMIUM is None:
        return "no Chromium found (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("EBMPLAN_BROWSER_TESTS") == "required":
            pytest.fail(f"browser tests are required here, but {missing}")
        pytest.skip(f"browser tests need a browser: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_agent):  # noqa: F811
    import uvicorn

    runs = RunsFolder(tmp_path_factory.mktemp("browser") / "runs")
    shutil.copytree(small_agent, runs.root / "fourrooms-x2")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(runs, hosts=LOCAL_HOSTS), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", runs
    server.should_exit = True
    thread.join(15)


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert not errors, f"the page raised: {errors}"


def test_energy_page_paints_trains_redraws_and_drops_a_particle(server, page, tmp_path):
    url, runs = server
    page.goto(f"{url}/energy")
    page.wait_for_function("document.querySelector('#dataset').options.length > 0")
    page.click("#train")  # nothing painted yet: one sentence, no training
    page.wait_for_function("document.querySelector('#message').textContent.includes('the canvas is empty')")

    box = page.locator("#plane").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx + 150, cy)
    page.mouse.down()
    for k in range(1, 121):  # a ring, with the brush
        page.mouse.move(cx + 150 * math.cos(2 * math.pi * k / 120), cy + 150 * math.sin(2 * math.pi * k / 120))
    page.mouse.up()
    assert int(page.inner_text("#count").split()[0]) >= 200

    page.fill("#width", "32")
    page.fill("#steps", "100000")
    page.click("#train")
    page.wait_for_function("window.playground.frames >= 2", timeout=90_000)
    before = page.evaluate("document.querySelector('#plane').toDataURL()")
    page.wait_for_function("window.playground.frames >= 8", timeout=60_000)
    assert page.evaluate("document.querySelector('#plane').toDataURL()") != before, "the heat map did not change"
    status = page.inner_text("#status")
    assert "steps/s" in status and "training" in status
    assert page.evaluate("window.playground.state.curves.loss.length") >= 5  # the curves have points
    assert page.inner_text("#energy-low") != "low"  # the colour bar has its numbers

    page.click("#pause")
    page.wait_for_function("document.querySelector('#status').textContent.includes('paused')")
    page.mouse.click(box["x"] + 40, box["y"] + 40)  # the tool switched to particles when training started
    page.wait_for_function("window.playground.state.particles.length === 1 && "
                           "window.playground.state.particles[0].path.length > 1", timeout=30_000)
    page.fill("#run-name", "painted-in-browser")
    page.click("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    assert page.inner_text("#saved-command").startswith("ebmplan train --data ")
    assert (runs.root / "painted-in-browser" / "model.safetensors").is_file()
    page.screenshot(path=str(tmp_path / "energy.png"))
    assert (tmp_path / "energy.png").stat().st_size > 10_000


def test_plan_page_plans_on_a_bundled_map_with_a_trained_agent(server, page, tmp_path):
    url, _ = server
    page.goto(f"{url}/plan")
    page.wait_for_function("window.playground.state.maze !== null")
    page.fill("#resize", "2")
    page.dispatch_event("#resize", "change")
    page.wait_for_function("window.playground.state.maze.height === 22")
    page.wait_for_function("document.querySelector('#agent').options.length === 1")
    assert page.input_value("#agent") == "fourrooms-x2"
    page.fill("#max-dist", "15")  # the small agent's distances are long

    box = page.locator("#maze").bounding_box()
    cell = box["width"] / 22

    def click(row: float, col: float) -> None:
        page.mouse.click(box["x"] + col * cell, box["y"] + row * cell)

    click(2.5, 2.5)  # the tool goes from start to goal by itself
    click(19.5, 19.5)
    assert page.evaluate("window.playground.state.goal") is not None
    page.select_option("#source", "uniform")
    page.fill("#nodes", "60")
    page.click("#plan")
    page.wait_for_selector("#result dt", timeout=60_000)
    plan = page.evaluate("window.playground.state.plan")
    assert len(plan["path"]) > 1 and len(plan["candidates"]) == 60 and plan["edge_count"] > 0
    result = page.inner_text("#result")
    assert "planning time" in result and "steps" in result
    page.wait_for_function("window.playground.state.shownSteps === window.playground.state.plan.path.length - 1")
    page.screenshot(path=str(tmp_path / "plan.png"))
    assert Path(tmp_path / "plan.png").stat().st_size > 10_000

    page.select_option("#source", "route")  # learns nothing: planned at once, its nodes stop at the cap
    page.fill("#nodes", "20")
    page.click("#plan")
    page.wait_for_function("window.playground.state.plan.candidates.length <= 20", timeout=60_000)
    page.wait_for_function("window.playground.state.shownSteps === window.playground.state.plan.path.length - 1")
    assert len(page.evaluate("window.playground.state.plan")["path"]) > 1
    page.screenshot(path=str(tmp_path / "plan-route.png"))

    click(10.5, 10.5)  # a goal inside a wall: one sentence
    page.click("#plan")
    page.wait_for_function("document.querySelector('#message').textContent.includes('inside a wall')")
