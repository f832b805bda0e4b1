"""The web lab's endpoints through FastAPI's TestClient: pages, sweep JSON, exports, live events.

Expected numbers come from the formula the test store was written with (``web_data.loss``)
or from the Python API (``SweepResult``), never from the endpoint's own output.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import web_data
from optiscope import SweepResult
from optiscope.web import create_app

TOKEN = "api-test-token"
HOST = "http://127.0.0.1:8765"
WEB_DATA = Path(web_data.__file__)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "results.sqlite"
    web_data.make_store(path, diverged=[1.0])
    return path


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    app = create_app(store, token=TOKEN, poll_seconds=0.05, keepalive_seconds=0.2)
    with TestClient(app, base_url=HOST, headers={"X-Optiscope-Token": TOKEN}) as test_client:
        yield test_client


def test_the_pages_and_the_vendored_uplot_are_served(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200 and "<title>optiscope lab</title>" in index.text
    assert index.headers["x-frame-options"] == "DENY"
    page = client.get("/sweeps/demo")
    assert page.status_code == 200 and "/static/sweep.js" in page.text
    for asset in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        assert client.get(f"/static/vendor/uplot/{asset}").status_code == 200
    assert "Leon Sorokin" in client.get("/static/vendor/uplot/LICENSE").text


def test_the_sweep_list_has_size_and_status_counts(client: TestClient, store: Path) -> None:
    data = client.get("/api/sweeps").json()
    assert data["store"] == str(store)
    (sweep,) = data["sweeps"]
    assert sweep["name"] == "demo"
    assert sweep["size"] == 12  # 4 lrs x 3 seeds
    assert sweep["counts"]["done"] == 11 and sweep["counts"]["diverged"] == 1


def test_the_sweep_facts_name_log_spaced_settings_and_the_command(client: TestClient) -> None:
    meta = client.get("/api/sweeps/demo").json()
    assert meta["settings"] == ["lr"]
    assert meta["log_settings"] == {"lr": True}  # 1e-3 ... 1: decades apart
    assert meta["labels"] == ["lr = 0.001", "lr = 0.01", "lr = 0.1", "lr = 1"]
    assert meta["command"] == "optiscope sweep --config demo.json"
    assert meta["versions"]["optiscope"] and meta["versions"]["torch"]
    assert meta["runs"][:4] == [[0, 0], [0, 1], [0, 2], [1, 0]]  # [label index, seed]


def test_the_view_has_the_numbers_of_the_python_api(client: TestClient, store: Path) -> None:
    view = client.get("/api/sweeps/demo/view", params={"band": "ci"}).json()
    result = SweepResult.load("demo", store=store)
    expected = result.summary()
    rows = {row["config"]: row for row in view["summary"]["rows"]}
    for _, row in expected.iterrows():
        assert rows[row["config"]]["final_mean"] == pytest.approx(row["final_mean"], abs=0)
    # and from the formula: lr = 0.01 has base 1, seeds 0, 1, 2 at epoch 4
    assert rows["lr = 0.01"]["final_mean"] == pytest.approx((1.0 + 1.1 + 1.2) / 3 / 4, rel=1e-12)
    # the band's mean line at the last epoch is the same number
    line = next(li for li in view["figure"]["lines"] if li["label"] == "lr = 0.01")
    assert line["mean"][-1] == pytest.approx(rows["lr = 0.01"]["final_mean"], rel=1e-12)
    assert line["count"] == [3, 3, 3, 3]
    assert view["figure"]["band"] == "ci"


def test_no_nan_reaches_the_json(client: TestClient) -> None:
    text = client.get("/api/sweeps/demo/view", params={"seeds": True}).text
    assert "NaN" not in text and "Infinity" not in text
    view = json.loads(text)
    diverged = next(li for li in view["figure"]["lines"] if li["label"] == "lr = 1")
    seed0 = next(s for s in diverged["seed_lines"] if s["seed"] == 0)
    assert seed0["status"] == "diverged" and len(seed0["y"]) == 3  # the NaN epoch is left out


def test_top_k_hide_diverged_and_best_metric_choose_the_curves(client: TestClient) -> None:
    def shown(**params: Any) -> list[str]:
        return client.get("/api/sweeps/demo/view", params=params).json()["shown"]

    # final means: lr 0.01 -> 0.275; 0.001 and 0.1 -> 0.55; lr 1 (2 finite seeds) -> 0.8625
    assert shown() == ["lr = 0.01", "lr = 0.001", "lr = 0.1", "lr = 1"]
    assert shown(top=2) == ["lr = 0.01", "lr = 0.001"]
    assert "lr = 1" not in shown(hide_diverged=True)
    view = client.get("/api/sweeps/demo/view", params={"top": 1}).json()
    assert [line["label"] for line in view["figure"]["lines"]] == ["lr = 0.01"]
    assert view["total"] == 4 and len(view["summary"]["rows"]) == 4  # the table keeps all


def test_paired_differences_to_a_baseline(client: TestClient) -> None:
    view = client.get("/api/sweeps/demo/view", params={"baseline": "lr = 0.01"}).json()
    rows = {row["config"]: row for row in view["summary"]["rows"]}
    assert rows["lr = 0.01"]["diff_mean"] == 0.0
    # lr = 0.1: base 2 against base 1, every seed: (2 - 1) * (1 + 0.1 s) / 4
    assert rows["lr = 0.1"]["diff_mean"] == pytest.approx((1.0 + 1.1 + 1.2) / 3 / 4, rel=1e-12)
    assert rows["lr = 0.1"]["pairs"] == 3


def test_slices_put_the_loss_against_each_setting(client: TestClient) -> None:
    (lr_slice,) = client.get("/api/sweeps/demo/view", params={"metric": "best"}).json()["slices"]
    assert lr_slice["setting"] == "lr" and lr_slice["log_x"] is True
    assert [p["x"] for p in lr_slice["points"]] == [0.001, 0.01, 0.1, 1.0]
    assert lr_slice["metric"] == "best"


def test_thin_curves_for_many_points(tmp_path: Path) -> None:
    app = create_app(tmp_path / "none.sqlite", token=TOKEN)
    path = tmp_path / "none.sqlite"
    web_data.make_store(path, lrs=(0.01,), seeds=1)
    with TestClient(app, base_url=HOST, headers={"X-Optiscope-Token": TOKEN}) as c:
        view = c.get("/api/sweeps/demo/view", params={"max_points": 2}).json()
    (line,) = view["figure"]["lines"]
    assert line["x"] == [1, 4]  # first and last epochs, exact values
    assert line["mean"] == [pytest.approx(web_data.loss(0.01, 0, 1)), web_data.loss(0.01, 0, 4)]


def test_exports_are_the_files_the_python_api_writes(client: TestClient, store: Path) -> None:
    frame = SweepResult.load("demo", store=store).frame
    csv = client.get("/api/sweeps/demo/export.csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="demo.csv"'
    got = pd.read_csv(io.StringIO(csv.text))
    assert len(got) == len(frame) == 12 * 4
    assert list(got.columns) == list(frame.columns)
    parquet = pd.read_parquet(io.BytesIO(client.get("/api/sweeps/demo/export.parquet").content))
    assert parquet["valid_loss"].tolist()[:4] == frame["valid_loss"].tolist()[:4]
    png = client.get("/api/sweeps/demo/export.png", params={"log_y": True})
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    spec = client.get("/api/sweeps/demo/spec.json").json()
    assert spec["grid"] == {"lr": [0.001, 0.01, 0.1, 1.0]}


def test_an_unknown_sweep_is_a_404_naming_the_known_ones(client: TestClient) -> None:
    answer = client.get("/api/sweeps/nope/view")
    assert answer.status_code == 404
    assert "nope" in answer.json()["error"] and "demo" in answer.json()["error"]


def test_a_bad_baseline_or_query_is_a_4xx_with_the_choices(client: TestClient) -> None:
    answer = client.get("/api/sweeps/demo/view", params={"baseline": "lr = 5"})
    assert answer.status_code == 400 and "lr = 0.01" in answer.json()["error"]
    answer = client.get("/api/sweeps/demo/view", params={"x": "minutes"})
    assert answer.status_code == 422 and "'epoch'" in answer.json()["error"]
    answer = client.get("/api/sweeps/demo/view", params={"top": 0})
    assert answer.status_code == 422
    answer = client.get("/api/sweeps/demo/view", params={"max_points": 10**9})
    assert answer.status_code == 422


def _events(client: TestClient, params: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Parsed events of ``/api/events`` (keep-alive comments come as ``("", {})``)."""
    with client.stream("GET", "/api/events", params=params) as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                yield kind, json.loads(line[len("data: ") :])
            elif line.startswith(":"):
                yield "", {}


def test_sse_delivers_epochs_written_by_another_process(client: TestClient, store: Path) -> None:
    (entry,) = web_data.make_store(store, name="live", lrs=(0.003,), seeds=1, finished=False)
    key = entry.config.key()
    events = _events(client, {"sweep": "live"})
    assert next(events)[0] == "hello"
    writer = subprocess.Popen(
        [sys.executable, str(WEB_DATA), str(store), key, "2", "--finish", "--pause=0.3"],
        stdout=subprocess.DEVNULL,
    )
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        for kind, event in events:
            assert time.monotonic() < deadline, f"no finished run in 60 s; saw {seen}"
            if kind == "sweep" and event["sweep"] == "live":
                seen.append(event)
                if event["counts"]["done"] == 1:
                    break
    finally:
        events.close()
        writer.wait(timeout=30)
    assert writer.returncode == 0
    runs = [run for event in seen for run in event.get("runs", [])]
    epochs = [run["epochs"] for run in runs if run["status"] == "running"]
    assert 2 in epochs  # the checkpoint of epoch 2 arrived while it was running
    running = next(run for run in runs if run["status"] == "running" and run["epochs"] == 2)
    assert running["curve"]["valid_loss"] == [web_data.loss(0.003, 0, e) for e in (1, 2)]
    final = runs[-1]
    assert final["status"] == "done" and final["position"] == 0
    assert final["curve"]["valid_loss"] == [web_data.loss(0.003, 0, e) for e in range(1, 5)]


def test_one_watcher_serves_every_page(client: TestClient) -> None:
    """No polling storm: three open streams share one watcher, which reads no table while
    nothing changes."""
    hub = client.app.state.hub  # type: ignore[attr-defined]
    streams = [_events(client, {"sweep": "demo"}) for _ in range(3)]
    for stream in streams:
        assert next(stream)[0] == "hello"
    assert hub.subscribers == 3 and hub.watching
    before = hub.looks
    time.sleep(0.5)
    looks = hub.looks - before
    # one look per poll (0.05 s) for all three pages, not three; tables read only on change
    assert 0 < looks <= 0.5 / 0.05 + 2
    assert hub.queries == 0
    for stream in streams:
        stream.close()


def test_live_lists_the_curves_of_running_runs(client: TestClient, store: Path) -> None:
    (entry,) = web_data.make_store(store, name="live", lrs=(0.003,), seeds=1, finished=False)
    assert client.get("/api/sweeps/live/live").json()["runs"] == []
    subprocess.run(
        [sys.executable, str(WEB_DATA), str(store), entry.config.key(), "3", "--pause=0"],
        check=True,
        capture_output=True,
    )
    (run,) = client.get("/api/sweeps/live/live").json()["runs"]
    assert run["epochs"] == 3 and run["status"] == "running"
    assert run["curve"]["valid_loss"] == [web_data.loss(0.003, 0, e) for e in (1, 2, 3)]
    assert math.isfinite(run["curve"]["seconds"][-1])


def test_a_sweep_is_read_once_until_it_changes(client: TestClient, store: Path) -> None:
    cache = client.app.state.results  # type: ignore[attr-defined]
    (entry,) = web_data.make_store(store, name="live", lrs=(0.003,), seeds=1, finished=False)
    for top in (1, 2, 3):
        view = client.get("/api/sweeps/live/view", params={"top": top}).json()
        assert view["figure"]["lines"] == []  # nothing finished yet
    assert cache.reads == 1
    subprocess.run(
        [sys.executable, str(WEB_DATA), str(store), entry.config.key(), "1", "--finish"],
        check=True,
        capture_output=True,
    )
    view = client.get("/api/sweeps/live/view").json()
    assert [line["label"] for line in view["figure"]["lines"]] == ["lr = 0.003"]
    assert cache.reads == 2
    (row,) = view["summary"]["rows"]
    assert row["final_mean"] == web_data.loss(0.003, 0, web_data.EPOCHS)
