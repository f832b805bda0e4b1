"""The playground and launch pages in Debian's Chromium, against a real ``optiscope serve``:
a slider moves a path, a click moves the start, a map cell loads its path, a sweep starts from
the form and is cancelled. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from optiscope import race
from optiscope.api import playground_spec, train_playground
from web_server import Server, browser, page, serve, web_server

__all__ = ["browser", "page", "web_server"]  # fixtures imported for pytest

pytestmark = pytest.mark.slow

#: Set to a folder (docs/images) to keep the docs' screenshots from these tests.
SHOTS_ENV = "OPTISCOPE_WEB_SHOTS"


def shot(page: Any, tmp_path: Path, name: str, *, docs: bool = True) -> None:
    """Screenshot to the test's folder, and (``docs``) to ``$OPTISCOPE_WEB_SHOTS`` when set:
    that is how docs/web.md's pictures are regenerated."""
    page.screenshot(path=str(tmp_path / name), full_page=True)
    folder = os.environ.get(SHOTS_ENV)
    if folder and docs:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _paths(page: Any) -> list[dict[str, Any]]:
    paths: list[dict[str, Any]] = page.evaluate("() => window.playground.paths.paths")
    return paths


def _version(page: Any) -> int:
    return int(page.get_attribute("#contour", "data-version"))


def _wait_for_new_paths(page: Any, version: int) -> None:
    page.wait_for_function(
        f"() => Number(document.getElementById('contour').dataset.version) > {version}"
    )


def test_a_slider_moves_the_path_and_the_page_shows_the_python_api_s_path(
    web_server: Server, page: Any, tmp_path: Path
) -> None:
    page.goto(web_server.url("/playground"))
    page.wait_for_function("() => document.getElementById('contour').dataset.version >= 1")
    before = _paths(page)
    version = _version(page)
    # the first optimizer's lr slider, moved by the keyboard as a user would
    slider = page.locator(".opt[data-index='0'] input.lr")
    slider.focus()
    for _ in range(40):
        page.keyboard.press("ArrowRight")
    _wait_for_new_paths(page, version)
    page.wait_for_function("() => !window.playground.busy")  # the last queued move landed
    after = _paths(page)
    assert after[0]["x"] != before[0]["x"]  # the path changed
    assert after[1]["x"] == before[1]["x"]  # the other did not
    # every move was drawn from the page's own computation first (pathsteps.js) ...
    moves = page.evaluate("() => window.playground.moves")
    assert moves >= 40
    # ... and the server's answer that followed agreed with it to 1e-12
    agreement = page.evaluate("() => window.playground.agreement")
    assert agreement is not None and agreement <= 1e-12
    # the drawn path is the Python API's, exactly
    lr = page.evaluate("() => window.playground.optimizers[0].lr")
    beta = page.evaluate("() => window.playground.optimizers[0].betaValue")
    steps = int(page.input_value("#steps"))
    (expected,) = race(
        "rosenbrock", [("momentum", {"lr": lr, "beta": beta})], steps=steps, dtype="float64"
    ).trajectories
    assert after[0]["x"] == list(expected.x) and after[0]["y"] == list(expected.y)
    shot(page, tmp_path, "playground-slider.png", docs=False)


def test_a_click_on_the_contour_sets_the_start(web_server: Server, page: Any) -> None:
    page.goto(web_server.url("/playground"))
    page.wait_for_function("() => document.getElementById('contour').dataset.version >= 1")
    version = _version(page)
    box = page.locator("#contour").bounding_box()
    # Rosenbrock's domain is x in [-2, 2], y in [-1, 3]: a quarter across and down is (-1, 2)
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    _wait_for_new_paths(page, version)
    start = page.evaluate("() => window.playground.paths.start")
    assert start == pytest.approx([-1.0, 2.0], abs=0.02)
    assert all(p["x"][0] == pytest.approx(start[0], abs=1e-6) for p in _paths(page))


def test_a_map_cell_loads_its_path_and_play_scrubs_time(
    web_server: Server, page: Any, tmp_path: Path
) -> None:
    page.goto(web_server.url("/playground"))
    page.wait_for_function("() => document.getElementById('contour').dataset.version >= 1")
    page.fill("#map-side", "6")
    page.click("#map-run")
    page.wait_for_function("() => document.getElementById('map').dataset.version >= 1")
    version = _version(page)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    _wait_for_new_paths(page, version)  # drawn by the page's own computation first
    page.wait_for_function("() => !window.playground.busy")  # then the server's answer
    cell = page.evaluate("() => window.playground.mapCell")
    grid = page.evaluate("() => window.playground.map")
    lr, beta = grid["x_values"][cell[1]], grid["y_values"][cell[0]]
    assert page.evaluate("() => window.playground.optimizers[0].lr") == lr
    final = grid["final_distance"][cell[0]][cell[1]]
    (expected,) = race(
        "rosenbrock", [("momentum", {"lr": lr, "beta": beta})], steps=300, dtype="float64"
    ).trajectories
    path = _paths(page)[0]
    assert path["x"] == list(expected.x)
    if final is None:
        assert path["status"] == "diverged"
    page.click("#play")
    page.wait_for_function("() => Number(document.getElementById('step').value) < 300")
    page.wait_for_function(
        "() => Number(document.getElementById('step').value) === 300", timeout=20_000
    )
    shot(page, tmp_path, "playground-map.png")


def test_start_and_cancel_a_sweep_from_the_form(tmp_path: Path, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    with serve(tmp_path / "results.sqlite", extra=["--max-configs", "16"]) as server:
        page.goto(server.url("/launch"))
        page.wait_for_selector("#launch-form input[name='lr']")
        page.fill("#launch-form input[name='lr']", "0.1,0.01,0.001")
        page.fill("#launch-form input[name='epochs']", "20")
        page.fill("#launch-form input[name='batch_size']", "2")
        page.fill("#launch-name", "from-the-form")
        page.click("#launch-start")
        page.wait_for_selector(".job[data-state='running']", timeout=60_000)
        shot(page, tmp_path, "launch-running.png")
        page.click(".job[data-state='running'] button.cancel")
        page.wait_for_selector(".job[data-state='cancelled']", timeout=60_000)
        answer = server.get("/api/launch/jobs").json()["jobs"][0]
        assert answer["name"] == "from-the-form" and answer["state"] == "cancelled"
        assert answer["progress"].get("running", 0) == 0
        # a refusal shows the CLI's words and starts nothing
        page.fill("#launch-form input[name='lr']", "-1")
        page.click("#launch-start")
        page.wait_for_selector("#error:not([hidden])")
        assert "0 < lr" in page.text_content("#error")
        assert len(server.get("/api/launch/jobs").json()["jobs"]) == 1
        shot(page, tmp_path, "launch-refused.png")
        page.goto("about:blank")  # stop the page's polling before the server stops
    context.close()
    # the refusal's 400 is the only thing the browser logged
    assert errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]


def test_the_training_sliders_switch_between_stored_curves(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "results.sqlite"
    grid = {"lr": (0.003, 0.01, 0.03), "beta1": (0.8, 0.9), "weight_decay": (0.0, 0.01)}
    train_playground(playground_spec(epochs=4, seeds=2, grid=grid), store=store)
    with serve(store) as server:
        page.goto(server.url("/playground"))
        page.wait_for_selector("#training-plot[data-config]")
        first = page.get_attribute("#training-plot", "data-config")
        assert first is not None
        assert json.loads(first) == {
            "beta1": 0.9,
            "lr": 0.01,
            "weight_decay": 0.01,
        }  # the exercise's
        slider = page.locator("#training-sliders input[data-setting='lr']")
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            f"() => document.getElementById('training-plot').dataset.config !== {first!r}"
        )
        shown = page.evaluate(
            "() => JSON.parse(document.getElementById('training-plot').dataset.config)"
        )
        assert shown["lr"] == 0.03
        assert "2 seeds" in page.text_content("#training-plot")
        shot(page, tmp_path, "playground-training.png")
        page.goto("about:blank")


def test_an_optimizer_the_page_has_no_rule_for_is_left_to_the_server(
    web_server: Server, page: Any
) -> None:
    """With pathsteps.js served without the momentum rule, a momentum slider draws nothing
    from the page; the server's answer moves the path."""
    source = (resources.files("optiscope.web") / "static" / "pathsteps.js").read_text()
    start = source.index("    momentum: {")
    end = source.index("  };", start)
    assert "step(p, g, s, h)" in source[start:end]
    without = source[:start] + source[end:]
    page.route(
        "**/static/pathsteps.js",
        lambda route: route.fulfill(body=without, content_type="text/javascript"),
    )
    page.goto(web_server.url("/playground"))
    page.wait_for_function("() => !window.playground.busy && window.playground.paths")
    assert page.evaluate("() => 'momentum' in window.optiscopePaths.optimizers") is False
    before = _paths(page)
    slider = page.locator(".opt[data-index='0'] input.lr")  # the momentum card
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => !window.playground.busy")
    page.wait_for_function(f"() => window.playground.paths.paths[0].x[5] !== {before[0]['x'][5]}")
    assert page.evaluate("() => window.playground.moves") == 0  # nothing drawn by the page
    assert _paths(page)[0]["source"] == "server"
