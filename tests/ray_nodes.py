"""Real Ray on this machine for tests: a Ray of the test's own, or a head and a second node.

Everything a test starts is stopped by PID: a node is a ``ray start --block`` process this
helper launched, and its Ray processes (GCS, raylet, workers) are its descendants, listed
with psutil before it is stopped; nothing is stopped by name. Ray's session files go to a
short temporary folder (a Unix socket path must stay under 108 bytes) and its auth token to a
temporary HOME, never the user's.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import psutil

RAY = str(Path(sys.executable).with_name("ray"))


_HOME: list[Path] = []


def _home() -> Path:
    """One temporary HOME for every Ray of this test process, removed at its exit.

    One, not one per test: the first ``ray.init`` turns token authentication on for the
    whole process (``RAY_AUTH_MODE=token`` in ``os.environ``) and caches the token it wrote
    under HOME, so a later Ray under another HOME would find no token and not start.
    """
    if not _HOME:
        _HOME.append(Path(tempfile.mkdtemp(prefix="ray-home-", dir="/tmp")))
        atexit.register(shutil.rmtree, _HOME[0], ignore_errors=True)
    return _HOME[0]


@contextlib.contextmanager
def ray_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME set to the process's temporary one (Ray writes its auth token there), and a
    fresh session folder, removed afterwards; yields the session folder."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    monkeypatch.setenv("HOME", str(_home()))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descendants(pid: int) -> list[psutil.Process]:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return list(psutil.Process(pid).children(recursive=True))
    return []


def stop_processes(processes: list[psutil.Process]) -> None:
    """SIGKILL these processes (by PID) and wait until they are gone."""
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"still running: {alive}"


@dataclass
class Node:
    """A ``ray start --block`` process and the log it writes."""

    process: subprocess.Popen[bytes]
    log: Path

    def wait_started(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, self.log.read_text(errors="replace")
            time.sleep(0.2)

    def busy_workers(self) -> list[psutil.Process]:
        """This node's worker processes running a task now: Ray titles such a process
        ``ray::<function>`` (an idle one ``ray::IDLE``)."""
        import psutil

        busy = []
        for process in descendants(self.process.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                title = " ".join(process.cmdline())
                if title.startswith("ray::train_in_worker"):
                    busy.append(process)
        return busy

    def stop(self) -> None:
        """Stop the node: its ``ray start`` process and every process under it, by PID."""
        below = descendants(self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        stop_processes(below)


def start_node(args: list[str], folder: Path, name: str) -> Node:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    return Node(process, log)


@contextlib.contextmanager
def two_nodes(folder: Path) -> Iterator[tuple[str, list[Node]]]:
    """A head and a second node on this machine, one CPU each; yields the head's address."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes: list[Node] = []
    try:
        head_args = ["--head", "--port", str(port), "--node-ip-address", "127.0.0.1"]
        head_args += ["--num-cpus", "1", "--include-dashboard=false"]
        head_args += ["--temp-dir", str(folder / "session")]
        nodes.append(start_node(head_args, folder, "head"))
        nodes[0].wait_started()
        node_args = ["--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
        nodes.append(start_node(node_args, folder, "node"))
        nodes[1].wait_started()
        yield address, nodes
    finally:
        for node in reversed(nodes):
            node.stop()
