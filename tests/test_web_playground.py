"""``/api/playground`` and ``/api/launch`` through FastAPI's TestClient: answers equal the
Python API's, every refusal is a 4xx with a clear message, and a refusal starts nothing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web lab needs the 'web' extra (fastapi)")

from fastapi.testclient import TestClient

from optiscope import race, sensitivity_map
from optiscope.api import SweepResult, playground_curves, playground_spec, train_playground
from optiscope.grammar import Axis
from optiscope.web import create_app
from optiscope.web._launches import LaunchLimits

TOKEN = "playground-test-token"
HEADERS = {"X-Optiscope-Token": TOKEN}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        tmp_path / "results.sqlite",
        token=TOKEN,
        allowed_hosts=["testserver"],
        launch_limits=LaunchLimits(max_configs=8, max_epochs=5),
    )
    with TestClient(app) as test_client:
        yield test_client


def _post(client: TestClient, path: str, body: Any, **kwargs: Any) -> Any:
    return client.post(path, json=body, headers={**HEADERS, **kwargs.pop("headers", {})})


def _jobs(client: TestClient) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = client.get("/api/launch/jobs", headers=HEADERS).json()["jobs"]
    return jobs


PATHS = {
    "function": "rosenbrock a=1 b=2",
    "start": [-1.5, 2.5],
    "steps": 150,
    "optimizers": [
        {"name": "momentum", "settings": {"lr": 0.01, "beta": 0.9}},
        {"name": "adam", "settings": {"lr": 0.1, "betas": [0.9, 0.99]}},
        {"name": "adamw", "settings": {"lr": 0.05, "weight_decay": 0}, "weight_decay": 0.1},
    ],
}


def test_the_paths_served_equal_the_race_s_exactly(client: TestClient) -> None:
    answer = _post(client, "/api/playground/paths", PATHS)
    assert answer.status_code == 200, answer.text
    served = answer.json()["paths"]
    texts = [
        "momentum lr=0.01 beta=0.9",
        "adam lr=0.1 betas=0.9,0.99",
        "adamw lr=0.05 weight_decay=0",
    ]
    for text, body, path in zip(texts, PATHS["optimizers"], served, strict=True):
        (expected,) = race(
            "rosenbrock a=1 b=2", [text], start=(-1.5, 2.5), steps=150,
            weight_decay=body.get("weight_decay", 0.0), dtype="float64",
        ).trajectories  # fmt: skip
        assert path["x"] == list(expected.x)  # JSON floats round-trip exactly
        assert path["y"] == list(expected.y)
    assert served[2]["fixed_point"]["rule"] == "adaptive"
    assert served[0]["fixed_point"] is None


def test_the_map_served_equals_sensitivity_map(client: TestClient) -> None:
    body = {"function": "rosenbrock", "optimizer": {"name": "momentum", "settings": {"lr": 0.01}},
            "steps": 60, "side": 3, "lr": [0.001, 0.01]}  # fmt: skip
    answer = _post(client, "/api/playground/map", body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    expected = sensitivity_map(
        "rosenbrock",
        "momentum lr=0.01",
        (Axis("lr", tuple(data["x_values"]), True), Axis("beta", tuple(data["y_values"]))),
        steps=60,
        dtype="float64",  # the playground's map runs in float64, as its paths do
    )
    assert data["y_name"] == "beta" and len(data["final_distance"]) == 3
    for row, expected_row in zip(data["final_distance"], expected.final_distance, strict=True):
        assert [v if v is not None else None for v in row] == [
            None if v != v else float(v) for v in expected_row
        ]


def test_options_and_surface(client: TestClient) -> None:
    options = client.get("/api/playground/options", headers=HEADERS).json()
    assert set(options["optimizers"]) >= {"momentum", "sgd", "adam", "adamw", "rmsprop", "adagrad"}
    assert options["limits"]["optimizers"] == 6 and options["limits"]["steps"] == 500
    surface = client.get("/api/playground/surface?function=booth&n=9", headers=HEADERS).json()
    assert len(surface["z"]) == 9 and surface["minima"] == [[1.0, 3.0]]
    too_big = client.get("/api/playground/surface?function=booth&n=5000", headers=HEADERS)
    assert too_big.status_code == 422 and "n" in too_big.json()["error"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"steps": 501}, 422, "steps"),
        ({"optimizers": PATHS["optimizers"] * 3}, 422, "optimizers"),
        ({"optimizers": []}, 422, "optimizers"),
        ({"function": "rosenbruck"}, 400, "rosenbrock"),
        ({"optimizers": [{"name": "adam", "settings": {"lr": -1}}]}, 400, "lr"),
        ({"optimizers": [{"name": "adam", "weight_decay": 99}]}, 422, "weight_decay"),
        ({"start": [1, 2, 3]}, 422, "start"),
        ({"start": "far"}, 422, "start"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_path_refusals_are_4xx_with_a_clear_message(
    client: TestClient, change: dict[str, Any], status: int, words: str
) -> None:
    answer = _post(client, "/api/playground/paths", {**PATHS, **change})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_map_refusals(client: TestClient) -> None:
    big = {"optimizer": {"name": "adam"}, "side": 64}
    answer = _post(client, "/api/playground/map", big)
    assert answer.status_code == 422 and "side" in answer.json()["error"]
    lbfgs = {"optimizer": {"name": "LBFGS"}}
    answer = _post(client, "/api/playground/map", lbfgs)
    assert answer.status_code == 400 and "no playground map" in answer.json()["error"]


def test_malformed_json_and_a_missing_or_wrong_token_are_refused(client: TestClient) -> None:
    answer = client.post(
        "/api/playground/paths",
        content=b'{"optimizers": [',
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "not valid JSON" in answer.json()["error"]
    for headers in ({}, {"X-Optiscope-Token": "wrong"}):
        for path in ("/api/launch", "/api/playground/training", "/api/launch/jobs/1/cancel"):
            refused = client.post(path, json={"settings": {"epochs": [1]}}, headers=headers)
            assert refused.status_code == 401, (path, refused.text)
            assert "token" in refused.json()["error"]
    assert _jobs(client) == []  # nothing was started


def test_training_curves_say_how_to_train_them_then_equal_the_api_s(
    client: TestClient, tmp_path: Path
) -> None:
    answer = client.get("/api/playground/training", headers=HEADERS)
    assert answer.status_code == 200 and answer.json()["available"] is False
    assert "Train the grid" in answer.json()["message"]
    store = tmp_path / "results.sqlite"
    spec = playground_spec(epochs=1, seeds=2, grid={"lr": (0.01, 0.1), "beta1": (0.9,),
                                                    "weight_decay": (0.0,)})  # fmt: skip
    train_playground(spec, store=store)
    served = client.get("/api/playground/training", headers=HEADERS).json()
    assert served == {
        "available": True,
        **playground_curves(SweepResult.load("playground", store=store)),
    }


def test_the_full_playground_grid_is_refused_above_the_server_s_bound(client: TestClient) -> None:
    answer = _post(client, "/api/playground/training", None)
    assert answer.status_code == 400
    assert "--max-configs" in answer.json()["error"] or "--max-epochs" in answer.json()["error"]
    assert _jobs(client) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"settings": {"lr": [0.1, 0.01, 0.001], "epochs": [1]}, "seeds": 3}, "--max-configs"),
        ({"settings": {"epochs": [50]}}, "--max-epochs"),
        ({"settings": {"lrr": [0.1]}}, "did you mean `lr`"),
        ({"settings": {"lr": [-0.1], "epochs": [1]}}, "0 < lr"),
        ({"kind": "compare", "settings": {"lr": [0.1, 0.2], "beta1": [0.8, 0.9]}},
         "exactly one of"),
        ({"settings": {"lr": []}}, "settings.lr"),
        ({"settings": {"lr": [0.1]}, "name": "../../etc"}, "name"),
    ],
)  # fmt: skip
def test_launch_refusals_use_the_cli_s_words_and_start_nothing(
    client: TestClient, body: dict[str, Any], words: str
) -> None:
    answer = _post(client, "/api/launch", body)
    assert 400 <= answer.status_code < 500, answer.text
    assert words in answer.json()["error"]
    assert _jobs(client) == []


def test_launch_runs_a_sweep_into_the_store_and_cancel_stops_one(
    client: TestClient, tmp_path: Path
) -> None:
    form = client.get("/api/launch/form", headers=HEADERS).json()
    assert {f["name"] for f in form["fields"]} >= {"lr", "beta1", "epochs", "hidden"}
    assert form["max_configs"] == 8
    answer = _post(client, "/api/launch", {"settings": {"lr": [0.1, 0.01], "epochs": [1]},
                                           "name": "from-the-page"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    job = answer.json()
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(f"/api/launch/jobs/{job['id']}", headers=HEADERS).json()
    assert job["state"] == "done", job
    assert job["progress"]["done"] == 2
    stored = SweepResult.load("from-the-page", store=tmp_path / "results.sqlite")
    assert stored.counts["done"] == 2
    # the same name with another spec is a conflict, refused before anything is queued
    taken = _post(client, "/api/launch", {"settings": {"lr": [0.5], "epochs": [1]},
                                          "name": "from-the-page"})  # fmt: skip
    assert taken.status_code == 409 and "from-the-page" in taken.json()["error"]
    assert len(_jobs(client)) == 1

    # a long one (batch size 2, 5 epochs, 4 configs), cancelled while it trains
    long = {"settings": {"lr": [0.1, 0.01, 0.001, 0.0001], "epochs": [5], "batch_size": [2]},
            "name": "cancelled"}  # fmt: skip
    job = _post(client, "/api/launch", long).json()
    while job["state"] == "queued":
        time.sleep(0.1)
        job = client.get(f"/api/launch/jobs/{job['id']}", headers=HEADERS).json()
    cancelled = _post(client, f"/api/launch/jobs/{job['id']}/cancel", None).json()
    deadline = time.monotonic() + 60
    while cancelled["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        cancelled = client.get(f"/api/launch/jobs/{job['id']}", headers=HEADERS).json()
    assert cancelled["state"] == "cancelled", cancelled
    counts = cancelled["progress"]
    assert counts.get("running", 0) == 0  # unfinished configs were given back
    assert counts.get("done", 0) < 4


def test_the_queue_is_bounded(client: TestClient) -> None:
    body = {"settings": {"lr": [0.1], "epochs": [5], "batch_size": [2]}}
    answers = [_post(client, "/api/launch", {**body, "name": f"q{i}"}) for i in range(5)]
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and statuses[4] == 429
    assert "waiting" in answers[4].json()["error"]
    for job in _jobs(client):
        _post(client, f"/api/launch/jobs/{job['id']}/cancel", None)


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_the_playground_benchmark_runs_in_its_smoke_settings() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_playground.py"), "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for row in ("slider move (1 of 6 recomputed)", "cold (all 6 recomputed)", "baseline"):
        assert row in done.stdout


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_a_job_stops_cleanly_when_its_server_is_killed(tmp_path: Path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    from optiscope.sweeps import SweepSpec

    spec = SweepSpec.from_values({"lr": [0.1, 0.01], "epochs": 500, "batch_size": 2}, name="orphan")
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec.to_dict()))
    store = tmp_path / "results.sqlite"
    # a stand-in server: starts the job as the runner does, prints its pid, then waits
    server_code = (
        "import subprocess, sys, time\n"
        f"job = subprocess.Popen([sys.executable, '-m', 'optiscope.web._job', {str(spec_file)!r}, "
        f"{str(store)!r}])\n"
        "print(job.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", server_code], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    job_pid = int(server.stdout.readline())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it trains
        if store.exists():
            try:
                if SweepResult.load("orphan", store=store).counts["running"]:
                    break
            except Exception:  # the store is being created
                pass
        time.sleep(0.2)
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    server.stdout.close()
    deadline = time.monotonic() + 30  # far less than the job's training (500 epochs)
    while time.monotonic() < deadline:
        try:
            os.kill(job_pid, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(job_pid, os.WNOHANG)
        time.sleep(0.2)
    else:
        os.kill(job_pid, signal.SIGKILL)
        pytest.fail("the job kept training after its server was killed")
    counts = SweepResult.load("orphan", store=store).counts
    assert counts["running"] == 0 and counts["pending"] == 2  # given back, resumable


def test_train_the_grid_queues_the_playground_sweep_and_its_curves_load(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optiscope.web._playground as routes

    small = playground_spec(epochs=1, seeds=2, grid={"lr": (0.01, 0.1), "beta1": (0.9,),
                                                     "weight_decay": (0.0,)})  # fmt: skip
    monkeypatch.setattr(routes, "playground_spec", lambda: small)  # the full grid takes minutes
    job = _post(client, "/api/playground/training", None).json()
    assert job["name"] == "playground" and job["configs"] == 4 and job["kind"] == "playground"
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(f"/api/launch/jobs/{job['id']}", headers=HEADERS).json()
    assert job["state"] == "done", job
    curves = client.get("/api/playground/training", headers=HEADERS).json()
    assert curves["available"] is True and curves["values"]["lr"] == [0.01, 0.1]
    assert all(config["seeds"] == 2 for config in curves["configs"])
