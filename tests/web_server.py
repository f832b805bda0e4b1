"""Shared web-test fixtures: a REAL ``optiscope serve`` in a subprocess, and Chromium.

Import the fixtures into a test module (``from web_server import browser, page, web_server``).
The server listens on 127.0.0.1 on a free port and is stopped by its PID at teardown; Chromium
is Debian's ``/usr/bin/chromium`` driven by Playwright (which never downloads a browser here),
launched with flags that keep it off the network. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")

#: Chromium stays off the network: no background requests, updates, sync or QUIC; no GPU.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

TOKEN = "test-token-0123456789abcdef"
READY = "Press Ctrl-C to stop."  # the last line `optiscope serve` prints on start
START_SECONDS = 90.0  # the server imports torch (the engine decodes live checkpoints)


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``optiscope serve``."""

    process: subprocess.Popen[str]
    store: Path
    port: int
    token: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """A page's URL with the token, as the server prints it."""
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Optiscope-Token": self.token, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30)
        return httpx.get(self.base + path, headers=headers, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.contextmanager
def serve(store: Path, *, extra: Sequence[str] = (), token: str = TOKEN) -> Iterator[Server]:
    """Start ``python -m optiscope serve`` on ``store``; stop it (by PID) on exit."""
    port = free_port()
    log = store.parent / f"serve-{port}.log"
    env = {**os.environ, "OPTISCOPE_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "optiscope", "serve", "--store", str(store)]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, text=True
        )
    server = Server(process, store, port, token, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM the process by its PID, then SIGKILL if it lingers."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"optiscope serve exited early:\n{server.output()}")
        # Up means: it answers, and it printed its URL (a thread prints that once uvicorn has
        # started, so the first answer can come a moment before the line).
        with contextlib.suppress(httpx.HTTPError):
            if server.get("/api/sweeps", timeout=2).status_code == 200 and READY in server.output():
                return
        time.sleep(0.1)
    raise RuntimeError(f"optiscope serve did not answer in {START_SECONDS} s:\n{server.output()}")


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[Server]:
    """A server on a fresh, empty store in ``tmp_path``."""
    with serve(tmp_path / "results.sqlite") as server:
        yield server


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
            ".ci/run does) to run the browser tests"
        )
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, headless, off the network, with a fresh profile
    (Playwright gives each launch a new temporary user-data-dir).

    Module-scoped: each test module that imports it gets its own, stopped before the next
    module starts (two sync Playwrights cannot run at once in one process)."""
    reason = chromium_missing()
    if reason is not None:
        print(f"SKIP browser tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (its own context: no storage shared between tests). Console
    errors of the page fail the test at teardown."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda err: errors.append(str(err)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"the page logged errors: {errors}"
