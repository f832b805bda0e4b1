"""Where tasks run: in this process, or in a warm pool of local worker processes.

A backend takes the tasks of :func:`optiscope.sweeps.plan_tasks` and hands each task's records
back through ``on_done``, always in the calling thread (a results store may only be used from
the thread that opened it). Every backend trains a task with :func:`run_task`, so results do
not depend on where a task ran. Adding a backend (Ray, later) means implementing
:class:`Backend`; the contract tests in ``tests/test_backends.py`` run against each one.

Threads: torch would use every core for intra-op parallelism, but these tensors are far too
small to gain from it, and processes would fight over cores. Each worker runs one intra-op
thread; the in-process backend uses one for the duration of a call and restores the setting.

The pool: fresh ``python`` processes fed through pipes (fork is unsafe once torch's thread
pools exist, and ``multiprocessing``'s spawn re-runs the caller's script in every worker unless
it has an ``if __name__ == "__main__"`` guard). A worker costs about a second to start
(importing torch), so the pool is started on first need and kept for the life of the process;
later calls find it warm. :func:`start_pool` starts it ahead of time.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from optiscope.data import Dataset, make_dataset
from optiscope.engine import InexactError, train_reference, train_vectorized
from optiscope.errors import EngineError
from optiscope.records import DataSpec, RunRecord
from optiscope.sweeps._groups import Task, makespan
from optiscope.sweeps._worker import read_message, write_message

WORKER_START_SECONDS = 1.5
"""Starting a worker process (spawn, import torch and optiscope), for the auto choice."""

__all__ = [
    "Backend",
    "InProcessBackend",
    "LocalPool",
    "ProcessPoolBackend",
    "TaskDone",
    "available_cpus",
    "choose_backend",
    "pool_is_warm",
    "run_task",
    "start_pool",
    "stop_pool",
]

TaskDone = Callable[[Task, list[RunRecord]], None]


@runtime_checkable
class Backend(Protocol):
    """Runs tasks and reports each one's records, in the calling thread, as it finishes."""

    name: str

    def run(
        self,
        tasks: Sequence[Task],
        *,
        data: Dataset | None,
        device: str,
        on_done: TaskDone,
    ) -> None:
        """Train every task; call ``on_done(task, records)`` for each (records in task order).

        Raises:
            EngineError: when a task fails (tasks already reported stay reported).
        """
        ...


def run_task(task: Task, data: Dataset | None, device: str) -> list[RunRecord]:
    """Train one task here; the records follow ``task.configs``.

    A vectorized task this machine cannot train exactly in stacked form (see
    :class:`~optiscope.engine._exact.InexactError`) is trained by the reference engine.
    """
    if task.engine == "vectorized":
        try:
            return train_vectorized(
                task.configs, data or _dataset(task.configs[0].data), device=device
            )
        except InexactError:
            pass
    return [train_reference(c, data or _dataset(c.data), device=device) for c in task.configs]


@functools.lru_cache(maxsize=8)
def _dataset(spec: DataSpec) -> Dataset:
    return make_dataset(spec)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class InProcessBackend:
    """Trains the tasks one after another in this process, with one intra-op thread."""

    name = "in-process"

    def run(
        self,
        tasks: Sequence[Task],
        *,
        data: Dataset | None,
        device: str,
        on_done: TaskDone,
    ) -> None:
        with _one_thread():
            for task in tasks:
                on_done(task, run_task(task, data, device))


class ProcessPoolBackend:
    """Trains tasks in a warm pool of ``workers`` local processes, largest first.

    Tasks are handed out in the order given (``plan_tasks`` sorts them by decreasing cost),
    each to the next idle worker: greedy longest-first balancing by estimated time.

    Args:
        workers: worker processes (default: the CPUs this process may use).
    """

    name = "process-pool"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else available_cpus()
        if self.workers < 1:
            raise ValueError(f"workers = {self.workers} must be at least 1")

    def run(
        self,
        tasks: Sequence[Task],
        *,
        data: Dataset | None,
        device: str,
        on_done: TaskDone,
    ) -> None:
        with _POOL_LOCK:
            pool = _pool(self.workers)
            try:
                pool.run(tasks, data, device, on_done)
            except BaseException:
                _close_pool()  # workers may be mid-task: start clean next time
                raise


_BOOT = (
    "import json, os, sys; sys.path[:0] = json.loads(os.environ['OPTISCOPE_WORKER_PATH']); "
    "from optiscope.sweeps._worker import main; main()"
)


class LocalPool:
    """Worker processes (``python -c``, never the caller's ``__main__``) fed through pipes.

    Args:
        workers: processes to start; they import torch in parallel (about a second).
    """

    def __init__(self, workers: int) -> None:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPTISCOPE_WORKER_PATH": json.dumps([p for p in sys.path if p]),
        }
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-c", _BOOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                bufsize=0,
            )
            for _ in range(workers)
        ]
        self.ready: list[subprocess.Popen[bytes]] = []

    @property
    def warm(self) -> bool:
        """Whether every worker has started."""
        return len(self.ready) == len(self.processes)

    def wait_ready(self) -> None:
        """Block until every worker has imported torch and optiscope."""
        for process in self.processes:
            if process not in self.ready:
                self._receive(process)

    def _receive(self, process: subprocess.Popen[bytes]) -> tuple[str, Any] | None:
        assert process.stdout is not None
        try:
            message: tuple[str, Any] = read_message(process.stdout)
        except EOFError as err:
            raise EngineError(
                f"a worker process (pid {process.pid}) exited with code {process.wait()}; "
                "its error is above on stderr. The pool restarts on the next call."
            ) from err
        if message[0] == "ready":
            self.ready.append(process)
            return None
        return message

    def run(
        self,
        tasks: Sequence[Task],
        data: Dataset | None,
        device: str,
        on_done: TaskDone,
    ) -> None:
        """Hand out every task; report each result through ``on_done`` in this thread."""
        queue = list(reversed(tasks))  # pop() takes the first (largest) task
        idle = list(self.ready)
        busy: dict[int, tuple[subprocess.Popen[bytes], Task]] = {}
        with selectors.DefaultSelector() as selector:
            for process in self.processes:
                assert process.stdout is not None
                selector.register(process.stdout, selectors.EVENT_READ, process)
            while queue or busy:
                while queue and idle:
                    process, task = idle.pop(), queue.pop()
                    assert process.stdin is not None
                    write_message(process.stdin, (task, data, device))
                    busy[process.pid] = (process, task)
                for key, _ in selector.select():
                    process = key.data
                    message = self._receive(process)
                    if message is None:  # a worker that just started
                        idle.append(process)
                        continue
                    _, task = busy.pop(process.pid)
                    idle.append(process)
                    if message[0] == "error":
                        raise EngineError(f"training failed in a worker process: {message[1]}")
                    on_done(task, message[1])

    def close(self) -> None:
        """Stop every worker (closing its input ends it; a stuck one is killed)."""
        for process in self.processes:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


_POOL_LOCK = threading.RLock()
_POOL: LocalPool | None = None


def _pool(workers: int) -> LocalPool:
    global _POOL
    if _POOL is not None and len(_POOL.processes) != workers:
        _close_pool()
    if _POOL is None:
        _POOL = LocalPool(workers)
    return _POOL


def _close_pool() -> None:
    global _POOL
    if _POOL is not None:
        pool, _POOL = _POOL, None
        pool.close()


def start_pool(workers: int | None = None) -> None:
    """Start the warm worker pool now and wait until every worker is up.

    Calls that use the pool later find it warm (a pool of another size is replaced). It
    lives until :func:`stop_pool` or the end of the process.
    """
    with _POOL_LOCK:
        _pool(workers if workers is not None else available_cpus()).wait_ready()


def pool_is_warm(workers: int) -> bool:
    """Whether a pool of ``workers`` started processes is waiting in this process."""
    pool = _POOL
    return pool is not None and len(pool.processes) == workers and pool.warm


def stop_pool() -> None:
    """Shut the worker pool down (it restarts on the next call that needs it)."""
    with _POOL_LOCK:
        _close_pool()


atexit.register(stop_pool)


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_backend(tasks: Sequence[Task], *, workers: int | None, device: str) -> Backend:
    """The backend for these tasks.

    ``workers=1`` trains in this process, ``workers=N`` in a pool of N. By default: a pool of
    one process per CPU when the tasks' estimated seconds, spread over the workers, plus the
    pool's start-up (none once it is warm) beat training them here; else this process. CUDA
    trains in this process (one GPU does not gain from several processes).
    """
    if workers is not None:
        return InProcessBackend() if workers <= 1 else ProcessPoolBackend(workers)
    cpus = available_cpus()
    if device != "cpu" or cpus < 2 or len(tasks) < 2:
        return InProcessBackend()
    costs = [t.cost for t in tasks]
    start = 0.0 if pool_is_warm(cpus) else WORKER_START_SECONDS  # seconds
    if makespan(costs, cpus) + start < 0.9 * sum(costs):
        return ProcessPoolBackend(cpus)
    return InProcessBackend()
