"""The Ray backend: tasks run on a Ray cluster (or a Ray started here), records come back.

Ray Core, not Ray Tune (see ``../shared/DESIGN.md``: Tune writes a directory per trial and
costs seconds per handful of trials; a plain Ray task costs about 1.5 ms). Each Ray task
trains one :class:`~optiscope.sweeps.Task` of :func:`~optiscope.sweeps.plan_tasks`: a
vectorized group of up to ``MAX_CHUNK`` configs sized by the cost model, never one config
per task (20,000 one-config tasks cost 13.5 s of overhead alone).

- **Where.** ``RayBackend()`` starts a Ray of its own on this machine
  (``ray.init(address="local")``: a plain ``ray.init()`` would join whatever a stale cluster
  file names); ``RayBackend("auto")``, ``RayBackend("HOST:PORT")`` or ``$RAY_ADDRESS`` join
  a running cluster, and then pass no resource counts (``ray.init`` refuses them there). A
  Ray the caller started already is used as it is.
- **Data.** Each distinct data set is put into the object store once per call; tasks get
  its reference, so it travels once per node, not once per task.
- **Threads.** A task declares ``num_cpus=1`` and trains with one intra-op thread.
- **Results.** A task is a Ray generator: it yields its configs' checkpoints as they are
  taken, then its records; only this process writes the store, so a cluster needs no
  shared file system. Tasks are submitted a few per CPU at a time (``on_start`` is called
  at submission), so a 100,000-config plan does not put thousands of tasks in flight.
- **Faults.** A worker process or node that dies: Ray runs its task again (up to
  ``max_retries`` times); the task's records are reported once whatever ran twice. A task
  that raises: its configs are reported with status ``error`` and the message, the other
  tasks go on, and :class:`~optiscope.errors.TasksFailedError` is raised at the end. Ctrl-C
  (any exception here): outstanding tasks are cancelled (their workers killed) and a Ray
  this backend started is shut down. A killed driver leaves nothing for Ray to resume:
  resuming comes from optiscope's store (``optiscope resume NAME --backend ray``).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from optiscope.data import Dataset
from optiscope.engine import known_choices, learn_choices, one_intra_op_thread
from optiscope.errors import MissingExtraError, TasksFailedError
from optiscope.records import Curve, DataSpec, RunRecord
from optiscope.sweeps._backends import _dataset, run_task
from optiscope.sweeps._groups import Task
from optiscope.sweeps._pool import (
    TaskCheckpoint,
    TaskDone,
    TaskStarted,
    _ignore,
    _ignore_checkpoints,
    available_cpus,
)

__all__ = ["IN_FLIGHT_PER_CPU", "MAX_RETRIES", "RayBackend", "import_ray", "stop_ray"]

MAX_RETRIES = 3
"""Times Ray runs a task again after its worker process or node died."""

IN_FLIGHT_PER_CPU = 2
"""Tasks submitted per CPU of the cluster at a time: one training, one queued behind it."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`MissingExtraError` naming the extra that installs it."""
    try:
        import ray
    except ImportError as err:
        raise MissingExtraError("ray", "ray", "the Ray backend") from err
    return ray


# The address of the Ray this process called ray.init for (None: none, or the caller's own).
_CONNECTED: list[str] = []
_LOCK = threading.RLock()


def _connect(address: str | None, cpus: int | None, temp_dir: Path | None) -> bool:
    """Make sure this process is connected to the Ray at ``address`` (``None``: one started
    here); returns whether this call started or joined it (and so must shut it down)."""
    ray = import_ray()
    wanted = address or "local"
    with _LOCK:
        if ray.is_initialized():
            if not _CONNECTED or _CONNECTED[0] == wanted:
                return False  # the caller's own Ray, or ours from an earlier call
            stop_ray()  # ours, but another address was asked for
        if address is None:
            options: dict[str, Any] = {
                "num_cpus": cpus or available_cpus(),
                "include_dashboard": False,
            }
            if temp_dir is not None:
                options["_temp_dir"] = str(temp_dir)
        else:  # joining: the cluster's nodes declare their own resources
            options = {}
        ray.init(address=wanted, log_to_driver=False, configure_logging=False, **options)
        _CONNECTED[:] = [wanted]
        return True


def stop_ray() -> None:
    """Shut down (or disconnect from) the Ray this process connected to; the next run
    connects again. A Ray the caller started is left alone."""
    with _LOCK:
        if not _CONNECTED:
            return
        _CONNECTED.clear()
        import ray

        ray.shutdown()


atexit.register(stop_ray)


class RayBackend:
    """Trains tasks as Ray tasks, on a cluster or on a Ray started on this machine.

    Args:
        address: ``None`` starts a Ray here (or uses ``$RAY_ADDRESS`` when set);
            ``"auto"`` or ``"HOST:PORT"`` joins that cluster.
        cpus: CPUs of a Ray started here (default: the CPUs this process may use);
            ignored when joining a cluster.
        max_retries: times a task runs again after its worker or node died.
        temp_dir: session files of a Ray started here (default: Ray's, ``/tmp/ray``).

    Raises:
        MissingExtraError: when Ray is not installed (``pip install 'optiscope[ray]'``).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus: int | None = None,
        max_retries: int = MAX_RETRIES,
        temp_dir: str | Path | None = None,
    ) -> None:
        import_ray()  # now, not after the sweep was planned and registered
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus = cpus
        self.max_retries = max_retries
        self.temp_dir = Path(temp_dir) if temp_dir is not None else None

    def connect(self) -> None:
        """Start or join Ray now (``run`` does it when needed)."""
        _connect(self.address, self.cpus, self.temp_dir)

    @property
    def workers(self) -> int:
        """CPUs of the cluster (connects first): how many tasks can train at once."""
        self.connect()
        return max(1, int(import_ray().cluster_resources().get("CPU", 1)))

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
        """Train every task on Ray; report each in this thread (see :class:`Backend`).

        Raises:
            TasksFailedError: after every other task finished, when some tasks raised (their
                configs were reported as ``error`` records).
        """
        ray = import_ray()
        window = IN_FLIGHT_PER_CPU * self.workers  # (connects)
        train = _remote(self.max_retries)
        stored: dict[DataSpec | None, Any] = {}  # each data set's object-store reference

        def data_ref(task: Task) -> Any:
            spec = None if data is not None else task.configs[0].data  # (one per task)
            if spec not in stored:
                stored[spec] = ray.put(data if data is not None else _dataset(spec))
            return stored[spec]

        queue = deque(tasks)
        running: dict[Any, Task] = {}  # generator -> task
        reported: set[int] = set()  # ids of tasks whose records went out (never twice)
        failed: list[tuple[Task, str]] = []
        try:
            while queue or running:
                while queue and len(running) < window:
                    task = queue.popleft()
                    running[train.remote(task, data_ref(task), device, known_choices())] = task
                    on_start(task)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
                for generator in ready:
                    task = running[generator]
                    try:
                        note = ray.get(next(generator))
                    except StopIteration:  # (a task always ends with its records)
                        del running[generator]
                        continue
                    except ray.exceptions.RayError as err:  # it raised, or died too often
                        del running[generator]
                        message = _message(err)
                        failed.append((task, message))
                        if id(task) not in reported:
                            reported.add(id(task))
                            on_done(task, _failed_records(task, message))
                        continue
                    if note[0] == "checkpoint":
                        on_checkpoint(task, note[1])
                        continue
                    del running[generator]
                    learn_choices(note[2])
                    if id(task) not in reported:
                        reported.add(id(task))
                        on_done(task, note[1])
        except BaseException:
            for generator in running:  # Ctrl-C, or the store failed: stop what is running
                ray.cancel(generator, force=True)
            if _CONNECTED:
                stop_ray()
            raise
        finally:
            stored.clear()  # the object store frees the data once no task needs it
        if failed:
            messages = tuple(dict.fromkeys(m.splitlines()[0] for _, m in failed))
            raise TasksFailedError(sum(len(t.configs) for t, _ in failed), len(failed), messages)


def _message(err: BaseException) -> str:
    """What a failed task's records say: the task's own exception where Ray has it."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    return f"{type(err).__name__}: {str(err).strip()}"


def _failed_records(task: Task, message: str) -> list[RunRecord]:
    return [
        RunRecord(config=c, curve=Curve(), status="error", error=message, engine=task.engine)
        for c in task.configs
    ]


_REMOTE: dict[int, Any] = {}


def _remote(max_retries: int) -> Any:
    """The Ray remote function for :func:`train_in_worker` with this retry count."""
    if max_retries not in _REMOTE:
        ray = import_ray()
        _REMOTE[max_retries] = ray.remote(num_cpus=1, max_retries=max_retries)(train_in_worker)
    return _REMOTE[max_retries]


def train_in_worker(
    task: Task, data: Dataset, device: str, choices: dict[Any, Any]
) -> Iterator[tuple[Any, ...]]:
    """A Ray task's body: yields ``("checkpoint", checkpoints)`` notes while the task
    trains, then ``("done", records, choices)``.

    Training runs in a thread so that checkpoints, taken inside the engine's callback, can
    be yielded as they come; the exactness probe's answers travel both ways, as with the
    local pool.
    """
    learn_choices(choices)
    notes: SimpleQueue[tuple[Any, ...] | BaseException] = SimpleQueue()

    def train() -> None:
        try:
            with one_intra_op_thread():
                records = run_task(
                    task, data, device, lambda found: notes.put(("checkpoint", found))
                )
            notes.put(("done", records, known_choices()))
        except BaseException as err:  # raised in the generator, so Ray reports it
            notes.put(err)

    threading.Thread(target=train, name="optiscope-task", daemon=True).start()
    while True:
        note = notes.get()
        if isinstance(note, BaseException):
            raise note
        yield note
        if note[0] == "done":
            return
