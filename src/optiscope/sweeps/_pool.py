"""The warm pool of local worker processes (what
:class:`~optiscope.sweeps._backends.ProcessPoolBackend` trains on) and the callbacks every
backend reports through.

Worker processes are fed through pipes, started on first need and kept for the life of the
process; later calls find them warm. Where it is safe (Linux, no other Python thread, no CUDA
in use: :func:`start_method`) a worker is forked from this process and is ready in about
10 ms, torch and optiscope already loaded; elsewhere it is a fresh ``python`` (fork is unsafe
once other threads may hold locks, and ``multiprocessing``'s spawn re-runs the caller's script
in every worker unless it has an ``if __name__ == "__main__"`` guard), which costs a second or
more to import torch. :func:`start_pool` starts the pool ahead of time. How long a worker
takes to start is measured on this machine the first time one starts, for each way of
starting (see :func:`worker_start_seconds`); the automatic choice of backend counts it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import IO, Any, Protocol

import torch

from optiscope.data import Dataset
from optiscope.engine import Checkpoint, known_choices, learn_choices
from optiscope.errors import EngineError
from optiscope.records import RunRecord
from optiscope.sweeps._groups import Task
from optiscope.sweeps._worker import read_message, serve_forked, write_message

__all__ = [
    "FORK",
    "WORKER_START_ESTIMATES",
    "LocalPool",
    "TaskCheckpoint",
    "TaskDone",
    "TaskStarted",
    "available_cpus",
    "pool_is_warm",
    "prestart_pool",
    "start_method",
    "start_pool",
    "stop_pool",
    "worker_start_seconds",
]

WORKER_START_ESTIMATES: dict[str, float] = {"fork": 0.05, "spawn": 0.5}
"""Seconds to start a worker before one has started in this process, by start method
(:func:`start_method`); replaced by the measured time once one has started. ``fork``: about
10 ms measured on the 2-vCPU machines, plus the child's first messages. ``spawn``: a fresh
``python`` importing torch and optiscope: 0.35-0.5 s measured on the Intel Xeon of issue 14,
1.1-1.4 s on the AMD EPYC (Zen 4); an older constant of 1.5 s kept 16-64-config sweeps on one
core where two were 1.35-1.6x faster."""

FORK = True
"""Whether workers may be forked where :func:`start_method` finds it safe (``False``: always
a fresh ``python``)."""

_measured_start: dict[str, float] = {}  # by start method: the first start in this process


def start_method() -> str:
    """How a pool started now would start its workers: ``fork`` or ``spawn``."""
    return "fork" if _fork_is_safe() else "spawn"


def _fork_is_safe(
    *,
    platform: str | None = None,
    python_threads: int | None = None,
    cuda: bool | None = None,
) -> bool:
    """Whether a worker may be forked from this process (arguments: for tests).

    Only on Linux (macOS's system libraries are not fork-safe), only while this is the one
    Python thread (another could hold a lock, in Python or in a torch call that released the
    GIL, that the child would wait on forever), and not once CUDA is initialized (a forked
    child cannot use it, and the pool trains on the CPU anyway). torch's intra-op threads are
    no obstacle: a worker runs one thread, and with one thread torch never enters a parallel
    region (PyTorch's DataLoader forks its workers the same way).
    """
    platform = sys.platform if platform is None else platform
    python_threads = threading.active_count() if python_threads is None else python_threads
    if cuda is None:
        cuda = torch.cuda.is_initialized()
    return FORK and platform == "linux" and python_threads == 1 and not cuda


def worker_start_seconds(method: str | None = None) -> float:
    """Seconds a worker takes to start here, started by ``method`` (default: as a pool
    started now would be, :func:`start_method`): measured on the first such start in this
    process (from launching it to its ready message), :data:`WORKER_START_ESTIMATES` before."""
    method = start_method() if method is None else method
    return _measured_start.get(method, WORKER_START_ESTIMATES[method])


def _note_start(method: str, seconds: float) -> None:
    if method not in _measured_start:  # the first start: a cold one, as the next cold pool's
        _measured_start[method] = seconds


TaskDone = Callable[[Task, list[RunRecord]], None]
TaskStarted = Callable[[Task], None]
TaskCheckpoint = Callable[[Task, dict[int, Checkpoint]], None]
"""``on_checkpoint(task, checkpoints)``: checkpoints by the configs' positions in the task."""


def _ignore(_task: Task) -> None:
    pass


def _ignore_checkpoints(_task: Task, _checkpoints: dict[int, Checkpoint]) -> None:
    pass


class _Saved:
    """A worker's checkpoints for configs of a task it is training (a note on the queue)."""

    def __init__(self, task: Task, checkpoints: dict[int, Checkpoint]) -> None:
        self.task, self.checkpoints = task, checkpoints


class _Started:
    """A worker took this task (a note on the results queue)."""

    def __init__(self, task: Task) -> None:
        self.task = task


# Ctrl-C is the parent's to handle: a worker ignores SIGINT from its first line, before the
# imports (about a second), so a terminal's interrupt never prints a worker's traceback.
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "import json, os, sys; sys.path[:0] = json.loads(os.environ['OPTISCOPE_WORKER_PATH']); "
    "from optiscope.sweeps._worker import main; main()"
)


class WorkerProcess(Protocol):
    """What the pool uses of a worker process (:class:`subprocess.Popen` has it)."""

    pid: int
    stdin: IO[bytes] | None
    stdout: IO[bytes] | None

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class ForkedWorker:
    """A worker forked from this process (see :func:`start_method`), with the part of
    :class:`subprocess.Popen`'s interface the pool uses: ``stdin`` takes its tasks, ``stdout``
    gives its answers (two pipes; the child's real standard streams are the parent's).

    Args:
        inherited: the parent's ends of the other workers' pipes, which the child closes (a
            worker must see the end of its input when the parent closes it).
    """

    def __init__(self, inherited: Sequence[int] = ()) -> None:
        tasks_read, tasks_write = os.pipe()
        answers_read, answers_write = os.pipe()
        parent = os.getpid()
        with warnings.catch_warnings():  # (Python 3.12+ warns of the idle intra-op threads)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns from here
            os.close(tasks_write)
            os.close(answers_read)
            serve_forked(tasks_read, answers_write, parent, inherited)
        os.close(tasks_read)
        os.close(answers_write)
        self.pid = pid
        self.stdin: IO[bytes] | None = os.fdopen(tasks_write, "wb", buffering=0)
        self.stdout: IO[bytes] | None = os.fdopen(answers_read, "rb", buffering=0)
        self.returncode: int | None = None

    def fds(self) -> list[int]:
        """This end's open pipe descriptors."""
        return [s.fileno() for s in (self.stdin, self.stdout) if s is not None and not s.closed]

    def poll(self) -> int | None:
        """The exit code, once the child has ended (it is then reaped)."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end and return its exit code.

        Raises:
            subprocess.TimeoutExpired: when it has not ended within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked worker {self.pid}", timeout or 0.0)
            time.sleep(0.005)
        return code

    def kill(self) -> None:
        """End the child now (SIGKILL)."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


# What the feeder thread puts on the results queue: a task taken, checkpoints, records, or
# an error.
_Result = _Started | _Saved | tuple[Task, list[RunRecord]] | BaseException


class LocalPool:
    """Worker processes (``python -c``, never the caller's ``__main__``) fed through pipes.

    Args:
        workers: processes to start: forked (ready in milliseconds) or fresh ``python``
            processes, which import torch in parallel (a second or so).
        method: ``fork`` or ``spawn`` (default: :func:`start_method`).
    """

    def __init__(self, workers: int, *, method: str | None = None) -> None:
        self.method = start_method() if method is None else method
        self.launched = time.perf_counter()
        self.processes: list[WorkerProcess] = []
        if self.method == "fork":
            for stream in (sys.stdout, sys.stderr):  # or the child would print them again
                with contextlib.suppress(AttributeError, OSError, ValueError):
                    stream.flush()
            forked: list[ForkedWorker] = []
            for _ in range(workers):
                forked.append(ForkedWorker([fd for w in forked for fd in w.fds()]))
            self.processes.extend(forked)
        else:
            env = {
                **os.environ,
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "OPTISCOPE_WORKER_PATH": json.dumps([p for p in sys.path if p]),
                "OPTISCOPE_PARENT_PID": str(os.getpid()),
            }
            self.processes.extend(
                subprocess.Popen(
                    [sys.executable, "-c", _BOOT],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                    bufsize=0,
                )
                for _ in range(workers)
            )
        self.ready: list[WorkerProcess] = []

    @property
    def warm(self) -> bool:
        """Whether every worker has started."""
        return len(self.ready) == len(self.processes)

    def wait_ready(self) -> None:
        """Block until every worker has imported torch and optiscope."""
        for process in self.processes:
            if process not in self.ready:
                self._receive(process)

    def _receive(self, process: WorkerProcess) -> tuple[Any, ...] | None:
        assert process.stdout is not None
        try:
            message: tuple[Any, ...] = read_message(process.stdout)
        except EOFError as err:
            raise EngineError(
                f"a worker process (pid {process.pid}) exited with code {process.wait()}; "
                "its error is above on stderr. The pool restarts on the next call."
            ) from err
        if message[0] == "ready":
            self.ready.append(process)
            _note_start(self.method, time.perf_counter() - self.launched)
            return None
        return message

    def run(
        self,
        tasks: Sequence[Task],
        data: Dataset | None,
        device: str,
        on_done: TaskDone,
        *,
        on_start: TaskStarted = _ignore,
        on_checkpoint: TaskCheckpoint = _ignore_checkpoints,
        here: Callable[[Task], list[RunRecord]] | None = None,
    ) -> None:
        """Train every task; report each through ``on_done`` in this thread.

        Args:
            tasks: largest first.
            data, device: passed to every worker with its task.
            on_done: called in this thread as each task's records arrive.
            on_start: called in this thread as each task is handed out.
            on_checkpoint: called in this thread as a worker's checkpoints arrive.
            here: trains a task in this thread; with it, this thread takes the next task
                whenever it is free, alongside the workers.
        """
        queue: deque[Task] = deque(tasks)
        lock = threading.Lock()
        results: SimpleQueue[_Result] = SimpleQueue()
        stop = threading.Event()

        def take() -> Task | None:
            with lock:
                return queue.popleft() if queue else None

        def remaining() -> bool:
            with lock:
                return bool(queue)

        feeder = threading.Thread(
            target=self._feed,
            args=(take, remaining, data, device, results, stop),
            daemon=True,
        )
        feeder.start()
        outstanding = len(tasks)
        try:
            while outstanding:
                result = _poll(results)
                if result is None and here is not None:
                    task = take()
                    if task is not None:
                        on_start(task)
                        on_done(task, here(task))
                        outstanding -= 1
                        continue
                if result is None:
                    result = results.get()
                if isinstance(result, BaseException):
                    raise result
                if isinstance(result, _Started):
                    on_start(result.task)
                    continue
                if isinstance(result, _Saved):
                    on_checkpoint(result.task, result.checkpoints)
                    continue
                on_done(*result)
                outstanding -= 1
        finally:
            stop.set()
            feeder.join()

    def _feed(
        self,
        take: Callable[[], Task | None],
        remaining: Callable[[], bool],
        data: Dataset | None,
        device: str,
        results: SimpleQueue[_Result],
        stop: threading.Event,
    ) -> None:
        """Keep every ready worker busy; put what they return on ``results``."""
        busy: dict[int, Task] = {}
        idle = list(self.ready)
        try:
            with selectors.DefaultSelector() as selector:
                for process in self.processes:
                    assert process.stdout is not None
                    selector.register(process.stdout, selectors.EVENT_READ, process)
                while not stop.is_set():
                    while idle and (task := take()) is not None:
                        process = idle.pop()
                        assert process.stdin is not None
                        write_message(process.stdin, (task, data, device, known_choices()))
                        busy[process.pid] = task
                        results.put(_Started(task))
                    if not busy and not remaining():
                        return  # nothing running here and nothing left to hand out
                    for key, _ in selector.select(timeout=0.05):
                        process = key.data
                        message = self._receive(process)
                        if message is not None and message[0] == "checkpoint":
                            results.put(_Saved(busy[process.pid], message[1]))
                            continue  # still training its task
                        if message is not None:
                            task = busy.pop(process.pid)
                            if message[0] == "error":
                                raise EngineError(
                                    f"training failed in a worker process: {message[1]}"
                                )
                            learn_choices(message[2])
                            results.put((task, message[1]))
                        idle.append(process)
        except BaseException as err:  # handed to the calling thread, which raises it
            results.put(err)

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker: closing its input ends it once its task is done (a stuck one is
        killed after 5 s); ``kill`` stops them at once, for a run that was interrupted."""
        for process in self.processes:
            if kill:
                process.kill()
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


def _poll(results: SimpleQueue[_Result]) -> _Result | None:
    try:
        return results.get_nowait()
    except Empty:
        return None


_POOL_LOCK = threading.RLock()
_POOL: LocalPool | None = None


def _pool(workers: int, *, method: str | None = None) -> LocalPool:
    global _POOL
    if _POOL is not None and len(_POOL.processes) != workers:
        _close_pool()
    if _POOL is None:
        _POOL = LocalPool(workers, method=method)
    return _POOL


def _close_pool(*, kill: bool = False) -> None:
    global _POOL
    if _POOL is not None:
        pool, _POOL = _POOL, None
        pool.close(kill=kill)


def start_pool(workers: int | None = None, *, method: str | None = None) -> None:
    """Start the warm worker pool now and wait until every worker is up.

    ``workers`` counts this process, as :class:`ProcessPoolBackend` does (default: the CPUs
    this process may use); later calls with that many workers find the pool warm. It lives
    until :func:`stop_pool` or the end of the process.

    Args:
        workers: processes, this one included.
        method: ``fork`` or ``spawn`` (default: :func:`start_method`); a pool that runs
            started the other way is replaced.
    """
    workers = workers if workers is not None else available_cpus()
    if workers > 1:
        with _POOL_LOCK:
            if method is not None and _POOL is not None and _POOL.method != method:
                _close_pool()
            _pool(workers - 1, method=method).wait_ready()


def pool_is_warm(workers: int) -> bool:
    """Whether the workers of a ``workers``-process pool are up (one is this process)."""
    pool = _POOL
    return workers <= 1 or (pool is not None and len(pool.processes) == workers - 1 and pool.warm)


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


def prestart_pool(workers: int) -> None:
    """Start launching a ``workers``-process pool and return at once (the workers import torch
    while the caller validates, opens its store and generates data); no-op when it runs."""
    if workers > 1:
        with _POOL_LOCK:
            _pool(workers - 1)
