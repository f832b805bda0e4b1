"""The pages in a real browser: Debian's Chromium driven by Playwright against a real
``optiscope serve`` (tests/web_server.py). Screenshots go to the test's folder (tmp_path).

Few and purposeful: the list page, the sweep page against the Python API, log axes and the
table-to-curve link, and a live sweep trained by a separate ``optiscope sweep`` process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import web_data
from optiscope import SweepResult
from web_server import Server, browser, page, serve, stop

__all__ = ["browser", "page"]  # fixtures used below

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_server(tmp_path: Path) -> Any:
    store = tmp_path / "results.sqlite"
    web_data.make_store(store, diverged=[1.0])
    with serve(store) as server:
        yield server


def _open_sweep(page: Any, server: Server, name: str) -> None:
    page.goto(server.url("/"))
    page.click(f"tr[data-sweep='{name}'] a")
    page.wait_for_selector("body[data-ready='true']")


def test_the_sweep_page_shows_the_python_apis_numbers(
    demo_server: Server, page: Any, tmp_path: Path
) -> None:
    page.goto(demo_server.url("/"))
    row = page.wait_for_selector("tr[data-sweep='demo']")
    assert "11 done, 1 diverged" in row.inner_text()
    page.screenshot(path=str(tmp_path / "sweeps-list.png"))
    page.click("tr[data-sweep='demo'] a")
    page.wait_for_selector("body[data-ready='true']")
    page.screenshot(path=str(tmp_path / "sweep-page.png"), full_page=True)

    expected = SweepResult.load("demo", store=demo_server.store).summary()
    best = expected.iloc[0]
    cell = page.locator("#summary tbody tr").first.locator("td[data-column='final_mean']")
    assert float(cell.get_attribute("data-value")) == best["final_mean"]  # the exact number
    assert cell.inner_text() == f"{best['final_mean']:.4g}"  # and as shown: 0.275
    first_label = page.locator("#summary tbody tr").first.get_attribute("data-label")
    assert first_label == best["config"] == "lr = 0.01"
    # 4 configs drawn: mean, band high and band low each
    assert page.get_attribute("#chart", "data-series") == str(4 * 3)


def test_log_axes_top_k_and_the_table_highlighting_a_curve(
    demo_server: Server, page: Any, tmp_path: Path
) -> None:
    _open_sweep(page, demo_server, "demo")
    distr = "window.optiscopeSweep.state.chart.scales.{}.distr"
    assert page.evaluate(distr.format("y")) == 1
    page.check("#log-y")
    page.check("#log-x")
    assert page.evaluate(distr.format("y")) == 3 and page.evaluate(distr.format("x")) == 3
    assert page.get_attribute("#chart", "data-log-y") == "true"
    page.screenshot(path=str(tmp_path / "sweep-log-axes.png"))

    page.fill("#top", "2")
    page.dispatch_event("#top", "change")
    page.wait_for_function("() => document.querySelector('#chart').dataset.series === '6'")
    assert page.inner_text("#shown") == "(2 of 4 drawn)"
    hidden = page.locator("#summary tbody tr.hidden-line")
    assert hidden.count() == 2

    page.hover("#summary tbody tr[data-label='lr = 0.001']")
    # the curve's legend with its run counts: 3 seeds, all finite at every epoch
    assert page.inner_text("#focus") == "lr = 0.001: 3 seeds, 3–3 finite per point"
    assert "highlight" in (
        page.get_attribute("#summary tbody tr[data-label='lr = 0.001']", "class") or ""
    )
    # sorting by a column header
    page.click("#summary thead th[data-column='final_mean']")  # ascending
    page.click("#summary thead th[data-column='final_mean']")  # descending
    labels = page.locator("#summary tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.label)"
    )
    assert labels[0] == "lr = 1"


def test_a_live_sweep_adds_epochs_to_the_open_page(tmp_path: Path, page: Any) -> None:
    """A separate ``optiscope sweep`` trains into the store; the open page draws the running
    configs' epochs as they are stored (then the test stops the sweep: its configs would
    all finish together at the end, and watching them arrive is the point)."""
    store = tmp_path / "results.sqlite"
    web_data.make_store(store)  # the page also lists an older sweep
    command = [sys.executable, "-m", "optiscope", "sweep", "--name", "live", "--lr", "0.01,0.1"]
    command += ["--seeds", "2", "--epochs", "2000", "--n", "2000", "--workers", "1"]
    command += ["--store", str(store), "--yes", "--out", str(tmp_path / "live.png")]
    log_path = tmp_path / "sweep.log"
    seen: list[int] = []
    with serve(store) as server, log_path.open("w") as log:
        sweep = subprocess.Popen(
            command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        try:
            deadline = time.monotonic() + 120
            while not any(s["name"] == "live" for s in server.get("/api/sweeps").json()["sweeps"]):
                assert sweep.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the sweep never registered"
                time.sleep(0.1)
            _open_sweep(page, server, "live")
            while len(seen) < 3:  # three different epoch counts, rising
                assert sweep.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"saw only {seen}: {log_path.read_text()}"
                epochs = int(page.get_attribute("#progress", "data-live-epochs") or 0)
                if epochs and (not seen or epochs > seen[-1]):
                    seen.append(epochs)
                time.sleep(0.05)
            page.screenshot(path=str(tmp_path / "sweep-live.png"))
            series = int(page.get_attribute("#chart", "data-series") or 0)
            assert series == 4  # four running runs, one dashed line each (no finished bands)
            assert "epochs of running configs so far" in page.inner_text("#progress")
            page.goto("about:blank")  # close the page's event stream before the server stops
        finally:
            stop(sweep)
    assert seen == sorted(seen) and seen[-1] > seen[0]
