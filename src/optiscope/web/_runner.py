"""The server's background runner: launched sweeps, one at a time, with progress and cancel.

A launch is checked in the request (the same :func:`optiscope.sweeps.plan` every sweep goes
through, so the refusals are the Python API's and the command line's), then queued. A thread
of the server process takes jobs in order and runs each as a child process
(:mod:`optiscope.web._job`) that trains through the ordinary pipeline into the server's store:
rows land there as they finish, so the sweeps page shows them live, and a cancel (SIGTERM)
gives unfinished configs back as ``pending``, resumable like any interrupted sweep. Progress
is read from the store. Sizes are bounded by the server's options (``--max-configs``,
``--max-epochs``) and the queue by :data:`MAX_QUEUED`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optiscope.errors import OptiscopeError
from optiscope.storage import SqliteStore
from optiscope.sweeps import Plan

__all__ = ["MAX_QUEUED", "Job", "JobRunner"]

#: Jobs waiting behind the running one; more are refused (429) until one finishes.
MAX_QUEUED = 3

# How long a cancelled job may take to give its configs back before it is killed.
_CANCEL_GRACE_S = 20.0


@dataclass
class Job:
    """One launched sweep.

    Attributes:
        id: the runner's number for it.
        name: the sweep's name in the store.
        kind: ``sweep`` or ``compare``.
        configs: configs it trains (seeds included).
        state: ``queued``, ``running``, ``done``, ``cancelled`` or ``error``.
        message: the error's text for ``error``.
        created, started, finished: wall-clock times (seconds since the epoch).
    """

    id: int
    name: str
    kind: str
    configs: int
    spec: dict[str, Any]
    state: str = "queued"
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    cancel_time: float | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def cancelling(self) -> bool:
        """A cancel was asked for (read under the runner's lock)."""
        return self.cancel_requested


_TERMINAL = ("done", "cancelled", "error")


class JobRunner:
    """A bounded queue of launched sweeps and the thread that runs them, one at a time.

    Args:
        store: the server's store file (fixed at start; requests never name a path).
        python: the interpreter for the job processes (default this one).
    """

    def __init__(self, store: Path, *, python: str = sys.executable) -> None:
        self.store = Path(store)
        self._python = python
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread: threading.Thread | None = None
        self._folder = Path(tempfile.mkdtemp(prefix="optiscope-jobs-"))
        self.on_change: Callable[[Job], None] | None = None

    # -- requests ----------------------------------------------------------------------------

    def submit(self, checked: Plan, *, kind: str) -> Job | None:
        """Queue a checked plan; ``None`` when :data:`MAX_QUEUED` jobs already wait."""
        with self._lock:
            waiting = sum(job.state == "queued" for job in self._jobs.values())
            if waiting >= MAX_QUEUED:
                return None
            job = Job(
                id=next(self._ids),
                name=checked.name,
                kind=kind,
                configs=len(checked.points),
                spec=checked.spec.to_dict(),
            )
            self._jobs[job.id] = job
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="optiscope-jobs", daemon=True
                )
                self._thread.start()
            self._wake.notify_all()
        return job

    def cancel(self, job_id: int) -> Job | None:
        """Cancel a queued job (it never starts) or a running one (SIGTERM to its process).
        Returns the job, or ``None`` for an unknown id."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.cancel_requested, job.cancel_time = True, time.time()
            if job.state == "queued":
                self._finish(job, "cancelled")
            elif job.state == "running" and job.process is not None:
                job.process.terminate()  # the job turns SIGTERM into a clean interrupt
            return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def progress(self, job: Job) -> dict[str, int]:
        """Status counts of the job's sweep in the store (all ``pending`` before it starts)."""
        if job.state == "queued" or not self.store.exists():
            return {"pending": job.configs}
        try:
            with SqliteStore(self.store, create=False) as store:
                return dict(store.sweep_info(job.name).counts)
        except OptiscopeError:  # not registered yet (the job is starting): nothing ran
            return {"pending": job.configs}

    def close(self) -> None:
        """Stop taking jobs; cancel the running one and wait for it (server shutdown)."""
        with self._lock:
            self._closed = True
            running = [j for j in self._jobs.values() if j.state in ("queued", "running")]
            self._wake.notify_all()
        for job in running:
            self.cancel(job.id)
        if self._thread is not None:
            self._thread.join(timeout=_CANCEL_GRACE_S + 5)
        shutil.rmtree(self._folder, ignore_errors=True)  # the jobs' spec files

    # -- the thread --------------------------------------------------------------------------

    def _finish(self, job: Job, state: str, message: str = "") -> None:
        job.state, job.message, job.finished = state, message, time.time()
        if self.on_change is not None:
            self.on_change(job)

    def _next(self) -> Job | None:
        with self._lock:
            while not self._closed:
                for job in self._jobs.values():
                    if job.state == "queued":
                        job.state, job.started = "running", time.time()
                        return job
                self._wake.wait()
            return None

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            self._run(job)

    @staticmethod
    def _wait(job: Job, process: subprocess.Popen[bytes]) -> bytes:
        """Wait for the job's process; kill it when a cancel has had its grace time."""
        while True:
            try:
                return process.communicate(timeout=0.5)[1]
            except subprocess.TimeoutExpired:
                asked = job.cancel_time
                if asked is not None and time.time() - asked > _CANCEL_GRACE_S:
                    process.kill()
                    return process.communicate()[1]

    def _run(self, job: Job) -> None:
        spec_file = self._folder / f"job-{job.id}.json"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self._lock:
            if job.cancelling:
                self._finish(job, "cancelled")
                return
            spec_file.write_text(json.dumps(job.spec))
            job.process = subprocess.Popen(
                [self._python, "-m", "optiscope.web._job", str(spec_file), str(self.store)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
        if self.on_change is not None:
            self.on_change(job)
        process = job.process
        assert process is not None
        err = self._wait(job, process)
        code = process.returncode
        with self._lock:
            job.process = None
            if job.cancel_time is not None:
                self._finish(job, "cancelled")
            elif code == 0:
                self._finish(job, "done")
            else:
                lines = err.decode(errors="replace").strip().splitlines()
                self._finish(job, "error", lines[-1] if lines else f"exit code {code}")
        spec_file.unlink(missing_ok=True)
