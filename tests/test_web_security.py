"""The guard of a local server that can start work (issue 11, point 5): every refusal is a
4xx with a clear message, and nothing behind it runs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

import optiscope.web
from cli_run import run
from optiscope.storage import SqliteStore
from optiscope.web import allowed_hosts_for, create_app, is_loopback, plan_server, require_token
from web_server import free_port

TOKEN = "security-test-token"
HOST = "http://127.0.0.1:8765"


class Launch(BaseModel):
    """A body like the launch form's: bounded fields only."""

    configs: int = Field(ge=1, le=64)


STARTED: list[int] = []
launch_router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


@launch_router.post("/test-launch")
def launch(body: Launch) -> dict[str, int]:
    STARTED.append(body.configs)
    return {"started": body.configs}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = tmp_path / "results.sqlite"
    SqliteStore(store).close()
    app = create_app(store, token=TOKEN, max_body=1024)
    app.include_router(launch_router)
    STARTED.clear()
    with TestClient(app, base_url=HOST) as test_client:
        yield test_client
    STARTED.clear()


def _post(client: TestClient, **kwargs: object) -> tuple[int, str]:
    headers = {"X-Optiscope-Token": TOKEN, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    answer = client.post("/api/test-launch", headers=headers, **kwargs)  # type: ignore[arg-type]
    return answer.status_code, answer.json().get("error", "")


def test_a_request_with_the_token_goes_through(client: TestClient) -> None:
    assert _post(client, json={"configs": 3}) == (200, "")
    authorization = {"Authorization": f"token {TOKEN}"}
    answer = client.post("/api/test-launch", json={"configs": 4}, headers=authorization)
    assert answer.status_code == 200
    assert STARTED == [3, 4]


@pytest.mark.parametrize("token", [None, "wrong", TOKEN[:-1], TOKEN + "x"])
def test_a_wrong_or_missing_token_is_refused(client: TestClient, token: str | None) -> None:
    headers = {} if token is None else {"X-Optiscope-Token": token}
    answer = client.post("/api/test-launch", json={"configs": 3}, headers=headers)
    assert answer.status_code == 401
    assert "token" in answer.json()["error"] and "printed" in answer.json()["error"]
    assert client.get("/api/sweeps", headers=headers).status_code == 401
    assert STARTED == []


def test_a_token_in_the_query_opens_reads_but_not_state_changes(client: TestClient) -> None:
    assert client.get("/api/sweeps", params={"token": TOKEN}).status_code == 200
    answer = client.post("/api/test-launch", params={"token": TOKEN}, json={"configs": 3})
    assert answer.status_code == 401 and "header" in answer.json()["error"]
    assert STARTED == []


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1:8765"]
)
def test_a_foreign_origin_is_refused(client: TestClient, origin: str) -> None:
    status, error = _post(client, json={"configs": 3}, headers={"Origin": origin})
    assert status == 403 and "Origin" in error and "other sites" in error
    assert client.get("/api/sweeps", headers={"Origin": origin}).status_code == 403
    assert STARTED == []


def test_the_servers_own_origin_is_accepted(client: TestClient) -> None:
    assert _post(client, json={"configs": 2}, headers={"Origin": HOST})[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "192.168.1.5:8765"])
def test_a_foreign_host_header_is_refused(client: TestClient, host: str) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1."""
    status, error = _post(client, json={"configs": 3}, headers={"Host": host})
    assert status == 400 and "Host" in error and "answers to" in error
    assert client.get("/", headers={"Host": host}).status_code == 400
    assert STARTED == []


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    status, error = _post(client, content=b"{" + b" " * 5000 + b"}")
    assert status == 413 and "1024 bytes" in error

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"configs": 3'
        yield b" " * 2000
        yield b"}"

    status, error = _post(client, content=chunks(), headers={"Content-Type": "application/json"})
    assert status == 413 and "1024 bytes" in error
    assert STARTED == []


def test_malformed_json_is_a_clear_422(client: TestClient) -> None:
    status, error = _post(
        client, content=b'{"configs": ', headers={"Content-Type": "application/json"}
    )
    assert status == 422 and "not valid JSON" in error and "nothing was started" in error
    assert STARTED == []


@pytest.mark.parametrize(
    ("body", "words"),
    [({"configs": 10_000}, "configs"), ({"configs": "many"}, "configs"), ({}, "configs")],
)
def test_out_of_bounds_or_missing_fields_are_refused(
    client: TestClient, body: dict[str, object], words: str
) -> None:
    status, error = _post(client, json=body)
    assert status == 422 and words in error
    assert STARTED == []


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("example.com")


def test_hosts_answered_to_follow_the_bind_address() -> None:
    assert set(allowed_hosts_for("127.0.0.1")) == {"127.0.0.1", "localhost", "::1"}
    wide = allowed_hosts_for("192.168.1.5")
    assert "192.168.1.5" in wide and "127.0.0.1" in wide


def test_the_token_is_random_unless_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPTISCOPE_TOKEN", raising=False)
    first = plan_server(tmp_path / "s.sqlite", "127.0.0.1", 8765)
    second = plan_server(tmp_path / "s.sqlite", "127.0.0.1", 8765)
    assert first.token != second.token and len(first.token) >= 32
    assert first.url == f"http://127.0.0.1:8765/?token={first.token}"
    monkeypatch.setenv("OPTISCOPE_TOKEN", "chosen")
    assert plan_server(tmp_path / "s.sqlite", "127.0.0.1", 1).token == "chosen"


def test_serve_warns_when_it_listens_beyond_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = []
    monkeypatch.setattr(
        optiscope.web, "run_server", lambda plan, on_ready, **limits: plans.append(plan)
    )
    store, port = str(tmp_path / "s.sqlite"), str(free_port())
    code, _, err = run(["serve", "--store", store, "--host", "0.0.0.0", "--port", port], capsys)
    assert code == 0 and "warning: listening on 0.0.0.0" in err and "SSH tunnel" in err
    code, _, err = run(["serve", "--store", store, "--port", port], capsys)
    assert code == 0 and "warning" not in err
    assert [p.host for p in plans] == ["0.0.0.0", "127.0.0.1"]


def test_serve_refuses_a_file_that_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    code, _, err = run(["serve", "--store", str(folder)], capsys)
    assert code == 2 and "folder" in err and err.count("\n") == 1


def test_serve_refuses_a_port_in_use_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        store = str(tmp_path / "s.sqlite")
        code, _, err = run(["serve", "--store", store, "--port", str(port)], capsys)
    assert code == 2 and f"127.0.0.1:{port}" in err and "--port" in err
    assert err.count("\n") == 1
