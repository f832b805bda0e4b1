"""The real server: ``optiscope serve`` in a subprocess, reached over 127.0.0.1."""

from __future__ import annotations

import pytest

from web_server import Server, browser, page, web_server

__all__ = ["browser", "page", "web_server"]  # fixtures imported for pytest

pytestmark = pytest.mark.slow


def test_serve_prints_its_url_with_the_token(web_server: Server) -> None:
    assert f"http://127.0.0.1:{web_server.port}/?token={web_server.token}" in web_server.output()
    assert web_server.get("/api/sweeps").json()["sweeps"] == []


def test_the_api_refuses_a_request_without_the_token(web_server: Server) -> None:
    answer = web_server.get("/api/sweeps", headers={"X-Optiscope-Token": "wrong"})
    assert answer.status_code == 401
    assert "wrong token" in answer.json()["error"]


def test_the_sweeps_page_loads_in_chromium(web_server: Server, page: object) -> None:
    page.goto(web_server.url("/"))  # type: ignore[attr-defined]
    page.wait_for_selector("#empty:not([hidden])")  # type: ignore[attr-defined]
    # the token left the address bar once the page kept it
    assert "token" not in page.url  # type: ignore[attr-defined]
