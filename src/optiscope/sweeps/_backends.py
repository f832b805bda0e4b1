"""Where tasks run: in this process, or in a warm pool of local worker processes.

A backend takes the tasks of :func:`optiscope.sweeps.plan_tasks`, says when each one starts
through ``on_start`` (for progress) and hands each task's records back through ``on_done``,
both always in the calling thread (a results store may only be used from
the thread that opened it). Every backend trains a task with :func:`run_task`, so results do
not depend on where a task ran. Another backend implements :class:`Backend` (the Ray
backend, :mod:`optiscope.sweeps._ray`, does); the contract tests in ``tests/test_backends.py``
run against each one.

Threads: torch would use every core for intra-op parallelism, but these tensors are far too
small to gain from it, and processes would fight over cores. Each worker runs one intra-op
thread; the in-process backend uses one for the duration of a call and restores the setting.

The pool of worker processes, its start-up and its callbacks live in
:mod:`optiscope.sweeps._pool`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from functools import partial
from typing import Protocol, runtime_checkable

from optiscope.data import Dataset, make_dataset
from optiscope.engine import (
    Checkpoint,
    CheckpointCallback,
    InexactError,
    one_intra_op_thread,
    train_reference,
    train_vectorized,
)
from optiscope.records import DataSpec, RunRecord
from optiscope.sweeps._groups import Task
from optiscope.sweeps._pool import (
    _POOL_LOCK,
    TaskCheckpoint,
    TaskDone,
    TaskStarted,
    _close_pool,
    _ignore,
    _ignore_checkpoints,
    _pool,
    available_cpus,
    pool_is_warm,
    worker_start_seconds,
)

POOL_MARGIN = 0.9
"""The pool is chosen when its estimated finish is below this fraction of one process's
time: two vCPUs give about 1.9x, not 2x, and the estimates are rough."""

__all__ = [
    "POOL_MARGIN",
    "Backend",
    "InProcessBackend",
    "ProcessPoolBackend",
    "choose_backend",
    "run_task",
]


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
        on_start: TaskStarted = _ignore,
        on_checkpoint: TaskCheckpoint = _ignore_checkpoints,
    ) -> None:
        """Train every task; call ``on_done(task, records)`` for each (records in task order),
        ``on_start(task)`` as each begins and ``on_checkpoint(task, checkpoints)`` as its
        configs reach checkpoints (see :attr:`Task.checkpoints`), all in the calling thread.

        Raises:
            EngineError: when a task fails (tasks already reported stay reported).
        """
        ...


def run_task(
    task: Task,
    data: Dataset | None,
    device: str,
    on_checkpoint: CheckpointCallback | None = None,
) -> list[RunRecord]:
    """Train one task here; the records follow ``task.configs``.

    A vectorized task this machine cannot train exactly in stacked form (see
    :class:`~optiscope.engine._exact.InexactError`) is trained by the reference engine (from
    the start: a vectorized checkpoint is not the reference engine's). A task's configs were
    checked when they were planned; the engines do not check them again.

    Args:
        task: configs, engine, checkpoints to resume from and when to take new ones.
        data: the data set for every config (``None``: each config's own).
        device: where to train.
        on_checkpoint: called, when ``task.checkpoints`` says so, with checkpoints by the
            configs' positions in the task.
    """
    policy = task.checkpoints
    taking = on_checkpoint if policy is not None else None
    if task.engine == "vectorized":
        try:
            return train_vectorized(
                task.configs,
                data or _dataset(task.configs[0].data),
                device=device,
                validate=False,
                resume=[c for c in task.resume if c is not None] if task.resume else None,
                on_checkpoint=taking,
                checkpoints=policy,
            )
        except InexactError:
            pass
    resumable = task.engine == "reference"
    return [
        train_reference(
            c,
            data or _dataset(c.data),
            device=device,
            validate=False,
            resume=task.start(i) if resumable else None,
            on_checkpoint=None if taking is None else partial(_one, taking, i),
            checkpoints=policy,
        )
        for i, c in enumerate(task.configs)
    ]


def _one(on_checkpoint: CheckpointCallback, position: int, checkpoint: Checkpoint) -> None:
    on_checkpoint({position: checkpoint})


@functools.lru_cache(maxsize=8)
def _dataset(spec: DataSpec) -> Dataset:
    return make_dataset(spec)


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
        on_start: TaskStarted = _ignore,
        on_checkpoint: TaskCheckpoint = _ignore_checkpoints,
    ) -> None:
        with one_intra_op_thread():
            for task in tasks:
                on_start(task)
                on_done(task, run_task(task, data, device, partial(on_checkpoint, task)))


class ProcessPoolBackend:
    """Trains tasks on ``workers`` cores: this process and ``workers - 1`` warm workers.

    Tasks go out largest first (``plan_tasks`` sorts them by estimated seconds), each to the
    next free process: greedy longest-first balancing. This process trains too, from the
    first moment, so a cold pool costs no idle time: its workers join as they come up (about
    a second each) and stay up for later calls.

    Args:
        workers: processes training at once, this one included (default: the CPUs this
            process may use). ``1`` is the in-process backend.
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
        on_start: TaskStarted = _ignore,
        on_checkpoint: TaskCheckpoint = _ignore_checkpoints,
    ) -> None:
        if self.workers == 1:
            InProcessBackend().run(
                tasks,
                data=data,
                device=device,
                on_done=on_done,
                on_start=on_start,
                on_checkpoint=on_checkpoint,
            )
            return
        with _POOL_LOCK, one_intra_op_thread():
            pool = _pool(self.workers - 1)
            try:
                pool.run(
                    tasks,
                    data,
                    device,
                    on_done,
                    on_start=on_start,
                    on_checkpoint=on_checkpoint,
                    here=lambda t: run_task(t, data, device, partial(on_checkpoint, t)),
                )
            except BaseException:
                _close_pool(kill=True)  # workers may be mid-task: their work is lost anyway
                raise


def choose_backend(
    tasks: Sequence[Task],
    *,
    workers: int | None,
    device: str,
    alone: Sequence[Task] | None = None,
    start_seconds: float | None = None,
) -> Backend:
    """The backend for these tasks.

    ``workers=1`` trains in this process, ``workers=N`` on N processes (this one and N - 1
    pool workers). By default: all CPUs when that is expected to finish sooner, counting the
    workers' start-up when the pool is cold (this process trains meanwhile), else this process
    alone. CUDA trains in this process (one GPU does not gain from several processes).

    Args:
        tasks: the tasks as planned for all CPUs (big groups split to feed every process).
        workers: the caller's choice (``None``: decide).
        device: where they train.
        alone: the same configs planned for one process (groups not split), whose summed
            cost is this process's time alone; default ``tasks``.
        start_seconds: a cold pool's start-up (default :func:`worker_start_seconds`; tests
            inject it).
    """
    if workers is not None:
        return InProcessBackend() if workers <= 1 else ProcessPoolBackend(workers)
    cpus = available_cpus()
    if device != "cpu" or cpus < 2 or len(tasks) < 2:
        return InProcessBackend()
    if pool_is_warm(cpus):
        start = 0.0
    else:
        start = worker_start_seconds() if start_seconds is None else start_seconds
    one_process = sum(t.cost for t in (tasks if alone is None else alone))
    if _finish_time([t.cost for t in tasks], [0.0] + [start] * (cpus - 1)) < (
        POOL_MARGIN * one_process
    ):
        return ProcessPoolBackend(cpus)
    return InProcessBackend()


def _finish_time(costs: Sequence[float], available: Sequence[float]) -> float:
    """When greedy workers, free from the given times, finish tasks of these costs."""
    free = sorted(available)
    for cost in sorted(costs, reverse=True):
        free[0] += cost
        free.sort()
    return max(free)
