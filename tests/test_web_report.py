"""``optiscope report NAME --out sweep.html``: one self-contained file, interactive offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import web_data
from cli_run import run
from optiscope import SweepResult
from web_server import browser, page

__all__ = ["browser", "page"]  # fixtures used below


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "results.sqlite"
    web_data.make_store(path, diverged=[1.0])
    return path


@pytest.fixture
def report(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "out" / "sweep.html"
    code, stdout, err = run(["report", "demo", "--store", str(store), "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out} (") and "self-contained" in stdout
    return out


def _data(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="optiscope-data" type="application/json">(.*?)</script>', html)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_the_report_needs_no_server_and_no_network(report: Path) -> None:
    html = report.read_text()
    assert "/static/" not in html
    # no resource is loaded from anywhere: no src/href attributes but in-page anchors
    assert re.findall(r'\bsrc="', html) == []
    assert re.findall(r'<link[^>]+href="(?!data:)', html) == []  # the icon is data:,
    assert "uPlot" in html and "optiscopeSweep" in html  # the scripts, inline
    assert "EventSource" in html  # (the live code is there but not started offline)


def test_the_report_carries_spec_versions_command_and_numbers(report: Path, store: Path) -> None:
    data = _data(report.read_text())
    meta = data["meta"]
    assert meta["spec"]["grid"] == {"lr": [0.001, 0.01, 0.1, 1.0]}
    assert meta["command"] == "optiscope sweep --config demo.json"
    assert set(meta["versions"]) >= {"optiscope", "python", "torch", "numpy"}
    assert sorted(data["figures"]) == sorted(
        f"{x}|{band}" for x in ("epoch", "step", "samples", "seconds") for band in ("std", "ci")
    )
    rows = {r["config"]: r for r in data["summaries"][""]["rows"]}
    assert rows["lr = 0.01"]["final_mean"] == pytest.approx((1.0 + 1.1 + 1.2) / 12, rel=1e-12)
    expected = SweepResult.load("demo", store=store).summary(baseline="lr = 0.1")
    diffs = {r["config"]: r["diff_mean"] for r in data["summaries"]["lr = 0.1"]["rows"]}
    assert diffs == dict(zip(expected["config"], expected["diff_mean"], strict=True))


def test_report_refuses_an_unknown_sweep_or_a_non_html_file(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["report", "nope", "--store", str(store), "--out", str(tmp_path / "r.html")], capsys
    )
    assert code == 2 and "nope" in err and "demo" in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
    code, _, err = run(
        ["report", "demo", "--store", str(store), "--out", str(tmp_path / "r.png")], capsys
    )
    assert code == 2 and "*.html" in err


@pytest.mark.slow
def test_the_report_is_interactive_offline(report: Path, store: Path, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    page.wait_for_selector("body[data-ready='true']")
    assert requests == [report.as_uri()]  # nothing else was fetched

    best = SweepResult.load("demo", store=store).summary().iloc[0]
    cell = page.locator("#summary tbody tr").first.locator("td[data-column='final_mean']")
    assert float(cell.get_attribute("data-value")) == best["final_mean"]

    page.select_option("#x", "samples")
    assert page.evaluate("() => window.optiscopeSweep.state.view.figure.x") == "samples"
    page.select_option("#baseline", "lr = 0.1")
    assert page.locator("#summary thead th[data-column='diff_mean']").count() == 1
    page.check("#hide-diverged")
    assert page.inner_text("#shown") == "(3 of 4 drawn)"
    page.check("#log-y")
    assert page.evaluate("() => window.optiscopeSweep.state.chart.scales.y.distr") == 3
    page.screenshot(path=str(report.parent / "report.png"), full_page=True)
