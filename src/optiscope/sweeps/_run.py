"""The one place that decides what runs where: configs in, records out, in config order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from optiscope.data import Dataset
from optiscope.engine import Checkpoint, CheckpointPolicy, validate_config
from optiscope.errors import ConfigError
from optiscope.records import RunConfig, RunRecord
from optiscope.sweeps._backends import Backend, choose_backend
from optiscope.sweeps._groups import Task, plan_tasks
from optiscope.sweeps._pool import prestart_pool

__all__ = ["BACKENDS", "ENGINES", "RecordCallback", "check_engine", "make_backend", "run_configs"]

ENGINES: tuple[str, ...] = ("vectorized", "reference")
"""``vectorized``: lockstep configs as one stacked model, the reference's numbers bit for bit;
``reference``: the plain PyTorch loop, one config at a time."""

BACKENDS: tuple[str, ...] = ("local", "ray")
"""``local``: this process, or a pool of local worker processes when that pays off;
``ray``: Ray tasks on a cluster, or on a Ray started on this machine (the ``ray`` extra)."""

RecordCallback = Callable[[RunRecord], None]
CheckpointsTaken = Callable[[list[tuple[RunConfig, Checkpoint]]], None]


def check_device(device: str) -> None:
    """Raise :class:`ConfigError` unless torch can train on ``device`` here."""
    try:
        where = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(
            f"device = {device!r} is not a device torch knows ({err}); use 'cpu' or 'cuda'."
        ) from err
    if where.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device = {device!r}, but this machine has no CUDA GPU that torch can use; "
            "use device='cpu'. Nothing was run."
        )
    if where.type not in ("cpu", "cuda"):
        raise ConfigError(f"device = {device!r}: optiscope trains on 'cpu' or 'cuda'.")


def check_engine(engine: str) -> None:
    """Raise :class:`ConfigError` unless ``engine`` is one of :data:`ENGINES`."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}.")


def make_backend(backend: str | Backend | None, *, address: str | None = None) -> Backend | None:
    """The backend named ``backend`` (one of :data:`BACKENDS`); ``None`` and ``local`` leave
    the choice to :func:`run_configs`; a :class:`Backend` is used as it is.

    Args:
        backend: a name, a backend, or ``None``.
        address: the Ray cluster to join (``auto``, ``HOST:PORT``); only with ``ray``.

    Raises:
        ConfigError: an unknown name, or an address without ``ray``.
        MissingExtraError: ``ray`` without Ray installed.
    """
    if backend is not None and not isinstance(backend, str):
        if address is not None:
            raise ConfigError(
                f"address = {address!r} goes with backend='ray', not a backend object."
            )
        return backend
    if backend not in (None, *BACKENDS):
        raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}.")
    if backend == "ray":
        from optiscope.sweeps._ray import RayBackend

        return RayBackend(address)
    if address is not None:
        raise ConfigError(
            f"address = {address!r} is the address of a Ray cluster; it needs backend='ray'."
        )
    return None


def run_configs(
    configs: Sequence[RunConfig],
    *,
    data: Dataset | None = None,
    engine: str = "vectorized",
    device: str = "cpu",
    workers: int | None = None,
    on_record: RecordCallback | None = None,
    on_start: Callable[[Sequence[RunConfig]], None] | None = None,
    backend: Backend | None = None,
    validate: bool = True,
    resume: Mapping[str, Checkpoint] | None = None,
    on_checkpoint: CheckpointsTaken | None = None,
    checkpoints: CheckpointPolicy | None = None,
) -> list[RunRecord]:
    """Train every config and return their records in the same order.

    Every config is validated before anything trains. Identical configs train once. With the
    vectorized engine, configs that can train in lockstep (same optimizer, batch size,
    epochs, network, data and shuffling) train as one stacked model; configs it cannot take
    (an optimizer without a vectorized update) go to the reference engine automatically.
    Either way each record holds the numbers the plain PyTorch loop gives for its config.

    Args:
        configs: the runs.
        data: one data set for all runs (user arrays); ``None`` builds each config's
            ``config.data`` (once per distinct spec and process).
        engine: ``vectorized`` (default) or ``reference`` (the plain PyTorch loop).
        device: where to train (``cpu``, ``cuda``).
        workers: ``1`` trains in this process; ``N`` in a warm pool of N processes; ``None``
            decides from the estimated work (a pool when it pays for its start-up).
        on_record: called in this thread with each record as soon as its task finishes
            (progress, storage); duplicates are reported once per position.
        on_start: called in this thread with the configs of each group as it starts
            training (progress); several groups may train at once on a pool.
        backend: run the tasks on this :class:`~optiscope.sweeps.Backend` instead of the
            one ``workers`` picks.
        validate: check every config first; ``False`` only for configs a plan checked
            already (:func:`optiscope.sweeps.plan`), so nothing is checked twice.
        resume: by config key, checkpoints to go on from (a config trains from its
            checkpoint's epoch on, with the numbers an uninterrupted run gives).
        on_checkpoint: called in this thread with ``(config, checkpoint)`` pairs at epoch
            ends, as ``checkpoints`` allows, one call per group and epoch (``None``: no
            checkpoints are taken).
        checkpoints: when to take checkpoints (default: :class:`CheckpointPolicy`).

    Returns:
        One record per config, in order.

    Raises:
        ConfigError: naming the config number and every problem; nothing has been run.
        EngineError: when training fails; records already reported stay reported.
    """
    check_engine(engine)
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ConfigError(f"`workers` = {workers!r} must be a positive integer (or None).")
    check_device(device)
    if validate:
        for number, config in enumerate(configs, start=1):
            validate_config(config, where=f"config {number} of {len(configs)}: ")
    n_train = data.n_train if data is not None else None
    if workers is not None:
        planned_workers = workers
    elif backend is not None and hasattr(backend, "workers"):  # a pool's or a cluster's size
        planned_workers = int(backend.workers)
    else:
        planned_workers = _auto_workers(device)
    policy = (checkpoints or CheckpointPolicy()) if on_checkpoint is not None else None

    def planned(workers: int) -> list[Task]:
        return plan_tasks(
            configs,
            engine=engine,
            workers=workers,
            n_train=n_train,
            resume=resume,
            checkpoints=policy,
        )

    tasks = planned(planned_workers)
    if backend is None:
        alone = planned(1) if planned_workers > 1 and workers is None else tasks
        backend = choose_backend(tasks, workers=workers, device=device, alone=alone)
        if backend.name == "in-process" and planned_workers > 1:  # no need to split groups
            tasks = alone if alone is not tasks else planned(1)

    records: list[RunRecord | None] = [None] * len(configs)

    def done(task: Task, finished: list[RunRecord]) -> None:
        for positions, record in zip(task.indices, finished, strict=True):
            for position in positions:
                records[position] = record
                if on_record is not None:
                    on_record(record)

    def started(task: Task) -> None:
        if on_start is not None:
            on_start(task.configs)

    def saved(task: Task, found: dict[int, Checkpoint]) -> None:
        if on_checkpoint is not None:
            on_checkpoint([(task.configs[position], c) for position, c in found.items()])

    backend.run(
        tasks, data=data, device=device, on_done=done, on_start=started, on_checkpoint=saved
    )
    missing = [i + 1 for i, r in enumerate(records) if r is None]
    if missing:  # a backend that skipped a task is a bug, not a user error
        raise AssertionError(f"backend {backend.name!r} returned no record for configs {missing}")
    return [r for r in records if r is not None]


def prestart_for(
    configs: Sequence[RunConfig],
    *,
    engine: str | None,
    device: str,
    workers: int | None,
    data: Dataset | None = None,
) -> None:
    """Start the worker pool now, without waiting, when :func:`run_configs` will want it for
    ``configs`` (the same plans and choice), so that the workers import torch while the caller
    opens its store and claims configs. Any configs, checked or not: nothing is trained."""
    if device != "cpu" or workers == 1 or not configs:
        return
    n = workers if workers is not None else _auto_workers(device)
    n_train = data.n_train if data is not None else None
    kind = engine or "vectorized"
    tasks = plan_tasks(configs, engine=kind, workers=n, n_train=n_train)
    alone = plan_tasks(configs, engine=kind, workers=1, n_train=n_train)
    backend = choose_backend(tasks, workers=workers, device=device, alone=alone)
    if backend.name == "process-pool":
        prestart_pool(n)


def _auto_workers(device: str) -> int:
    from optiscope.sweeps._pool import available_cpus

    return available_cpus() if device == "cpu" else 1
