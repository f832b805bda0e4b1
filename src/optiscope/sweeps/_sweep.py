"""The durable sweep runner: expand a spec, skip what the store has, train the rest.

Each config that finishes is committed to the store at once (one transaction), so an
interrupted sweep loses at most the configs that were training. Running the same spec
again, or ``optiscope resume NAME``, trains only what is missing:

1. plan the spec: count, check and expand it once (nothing runs if any config is invalid);
2. register the sweep; configs the store does not know start ``pending``;
3. put ``running`` rows whose process is gone back to ``pending`` (after SIGKILL, power loss);
4. claim the ``pending`` (and ``error``) configs: they become ``running``, their start
   count goes up by one;
5. hand them to :func:`run_configs`, each from its checkpoint if the store has one; each
   record goes to the store as it arrives, and so do checkpoints at epoch ends;
6. on Ctrl-C or an error, put the unfinished claimed configs back to ``pending``.

Checkpoints (see :mod:`optiscope.engine._checkpoint`) make an interruption cost at most the
training since the last one: with the default :class:`~optiscope.engine.CheckpointPolicy`
that is the epoch in progress, or a few seconds' worth of short epochs (checkpoints take at
most about 2% of training time). Interrupted configs keep their checkpoint (``pending`` after
Ctrl-C or SIGTERM, ``running`` until recovered after SIGKILL); a config's checkpoint goes
with its final record, and with every unfinished config's when training fails with an error
(the next run starts them over). When the disk is full, checkpoints stop for the rest of the
call and training goes on; only a record that cannot be stored ends the sweep.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optiscope.data import Dataset
from optiscope.engine import Checkpoint, CheckpointPolicy
from optiscope.errors import (
    DiskFullError,
    OptiscopeError,
    StorageError,
    TasksFailedError,
    TrainingFailedError,
)
from optiscope.records import RunConfig, RunRecord
from optiscope.storage import (
    FINISHED,
    SavedCheckpoint,
    SqliteStore,
    SweepEntry,
    new_owner,
    owner_alive,
    release_owner,
)
from optiscope.sweeps._backends import Backend
from optiscope.sweeps._plan import Plan, plan
from optiscope.sweeps._run import (
    check_device,
    check_engine,
    make_backend,
    prestart_for,
    run_configs,
)
from optiscope.sweeps._spec import SweepPoint, SweepSpec

__all__ = ["SweepRun", "run_sweep"]

StoreArg = SqliteStore | str | Path | None


@dataclass(frozen=True)
class SweepRun:
    """What one call of :func:`run_sweep` did.

    Attributes:
        name: the sweep's name in the store.
        spec: the spec, with its name filled in.
        points: every config of the sweep, in order (the plan's).
        store: the store file.
        skipped: configs already finished before this call (not trained again).
        trained: configs finished by this call.
        recovered: configs left ``running`` by an interrupted run, put back and retrained.
        busy: configs another live process is training right now (not trained here).
        seconds: wall-clock time of the call.
        elsewhere: of the ``busy`` configs, those marked running by another host, which this
            one cannot check (``force=True`` takes them over when nothing runs there).
        resumed: of the configs trained here, those that went on from a checkpoint.
    """

    name: str
    spec: SweepSpec
    points: tuple[SweepPoint, ...]
    store: Path
    skipped: int
    trained: int
    recovered: int
    busy: int
    seconds: float
    elsewhere: int = 0
    resumed: int = 0


def open_store(store: StoreArg, *, create: bool = True) -> tuple[SqliteStore, bool]:
    """The store to use and whether the caller owns (and must close) it."""
    if isinstance(store, SqliteStore):
        return store, False
    return SqliteStore(store, create=create), True


def _progress_bar(total: int, initial: int, name: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=name,
        unit="config",
        disable=not enabled,
        dynamic_ncols=True,
        leave=False,
    )


def run_sweep(
    spec: SweepSpec | Plan,
    *,
    store: StoreArg = None,
    engine: str | None = None,
    device: str = "cpu",
    workers: int | None = None,
    progress: bool = False,
    force: bool = False,
    extend: bool = False,
    on_record: Callable[[RunRecord], None] | None = None,
    checkpoints: CheckpointPolicy | None = CheckpointPolicy(),  # noqa: B008 (frozen)
    backend: str | Backend | None = None,
) -> SweepRun:
    """Train every config of ``spec`` that the store does not hold finished.

    Args:
        spec: the sweep, or its :class:`Plan` (planned once by the caller; a spec is
            planned here with the default cap).
        store: a :class:`SqliteStore`, a store file, or ``None`` for the default
            (``$OPTISCOPE_STORE`` or ``./.optiscope/results.sqlite``).
        engine: training engine for :func:`run_configs` (``None``: its default).
        device: where to train.
        workers: processes for the local pool backend (``None``: the backend's default).
        progress: one progress bar on stderr: configs finished of the total, the current
            config group, ETA.
        force: also take over configs marked ``running`` by a process that cannot be
            checked (another host); use only when no other sweep is running.
        extend: a stored sweep of the same name and another spec takes this spec, when it
            keeps every config that sweep lists (adding values to a named sweep).
        on_record: called with each record after it is stored.
        checkpoints: when to store each running config's training state, so that an
            interrupted sweep goes on from there (``None``: never; interrupted configs then
            start over).
        backend: where the configs train: ``None`` or ``"local"`` (this process or the
            local pool), ``"ray"`` (a Ray started here, or ``$RAY_ADDRESS``'s cluster), or a
            :class:`Backend` such as ``RayBackend("HOST:PORT")``. Only this process writes
            the store, whatever the backend.

    Returns:
        A :class:`SweepRun`; read the results with :class:`optiscope.SweepResult`.

    Raises:
        ConfigError: when any config is invalid (nothing is trained).
        StorageError: when the store cannot be read or written (finished configs are kept).
        SweepExistsError: the name is taken by a sweep with another spec (see ``extend``).
        TrainingFailedError: when training fails; configs finished before are kept (with
            the Ray backend, the configs of tasks that raised are stored as ``error``).
        MissingExtraError: ``backend="ray"`` without Ray installed.
    """
    started = time.perf_counter()
    planned = spec if isinstance(spec, Plan) else plan(spec)
    check_device(device)
    if engine is not None:
        check_engine(engine)
    chosen = make_backend(backend)
    if chosen is None:  # the local choice: workers import torch while the store is opened
        prestart_for(
            [p.config for p in planned.points],
            engine=engine,
            device=device,
            workers=workers,
            data=planned.data,
        )
    name, named, points = planned.name, planned.spec, planned.points
    target, owned = open_store(store)
    try:
        entries = [SweepEntry(p.config, p.labels) for p in points]
        target.save_sweep(name, named.to_dict(), entries, extend=extend)
        recovered = target.recover_stale(force=force)
        keys = planned.keys
        statuses = target.statuses(keys)
        wanted_keys = set(keys)
        held = [owner for key, owner, _ in target.running() if key in wanted_keys]
        elsewhere = sum(owner_alive(owner) is None for owner in held if owner)
        skipped = sum(statuses.get(key) in FINISHED for key in keys)
        wanted = [k for k in keys if statuses.get(k) in ("pending", "error")]
        owner = new_owner()
        claimed: list[str] = []
        try:
            claimed = target.claim(wanted, owner)
            mine = set(claimed)
            trained, resumed = _train(
                target,
                name,
                [p for p in points if p.config.key() in mine],
                total=len(points),
                initial=skipped,
                engine=engine,
                device=device,
                workers=workers,
                progress=progress,
                on_record=on_record,
                data=planned.data,
                checkpoints=checkpoints,
                backend=chosen,
            )
        finally:
            # Whatever this runner still holds (Ctrl-C at any point, an error) goes back.
            _release(target, owner)
            release_owner(owner)
        # Rows still 'running' after recovery belong to a live runner elsewhere.
        busy = sum(statuses.get(k) == "running" for k in keys) + len(wanted) - len(claimed)
        return SweepRun(
            name=name,
            spec=named,
            points=tuple(points),
            store=target.path,
            skipped=skipped,
            trained=trained,
            recovered=len(set(recovered) & set(keys)),
            busy=busy,
            seconds=time.perf_counter() - started,
            elsewhere=elsewhere,
            resumed=resumed,
        )
    except DiskFullError as err:  # the same error, naming the sweep to continue
        raise DiskFullError(err.path or target.path, err.action, sweep=name) from err
    finally:
        if owned:
            target.close()


def _train(
    store: SqliteStore,
    name: str,
    points: list[SweepPoint],
    *,
    total: int,
    initial: int,
    engine: str | None,
    device: str,
    workers: int | None,
    progress: bool,
    on_record: Callable[[RunRecord], None] | None,
    data: Dataset | None,
    checkpoints: CheckpointPolicy | None,
    backend: Backend | None = None,
) -> tuple[int, int]:
    """Train the claimed configs, committing each record and checkpoint; returns how many
    finished and how many went on from a checkpoint."""
    by_key = {p.config.key(): p for p in points}
    unfinished = set(by_key)
    resume = _checkpoints(store, list(by_key)) if checkpoints is not None else {}
    diverged = failed = 0
    training = ""  # the group that started last
    bar = _progress_bar(total, initial, name, progress)

    def show() -> None:
        note = f"; {diverged} diverged" if diverged else ""
        bar.set_postfix_str(f"{training}{note}", refresh=False)

    def start(configs: Sequence[RunConfig]) -> None:
        nonlocal training
        point = by_key.get(configs[0].key())
        first = point.label if point is not None else "config"
        more = f" and {len(configs) - 1} more" if len(configs) > 1 else ""
        training = f"training {first}{more}"
        show()
        bar.refresh()

    def commit(record: RunRecord) -> None:
        nonlocal diverged, failed
        key = record.config.key()
        if key not in unfinished:  # a record delivered twice (a retried task) is stored once
            return
        store.put_record(record)
        unfinished.discard(key)
        diverged += record.status == "diverged"
        failed += record.status == "error"
        show()
        bar.update(1)
        if on_record is not None:
            on_record(record)

    saving = True  # until the disk is found full

    def keep(taken: list[tuple[RunConfig, Checkpoint]]) -> None:
        # A checkpoint is insurance, not a result: when the disk has no room for one, the
        # sweep stops taking them and trains on, so that the records get the room there is
        # (the earlier checkpoints stay: resuming from an older epoch gives the same
        # numbers). If a record does not fit either, its DiskFullError says so.
        nonlocal saving
        if not saving:
            return
        try:
            store.put_checkpoints(
                [SavedCheckpoint(c.key(), cp.epoch, cp.engine, cp.to_bytes()) for c, cp in taken]
            )
        except DiskFullError:
            saving = False

    options: dict[str, Any] = {"device": device, "data": data}
    if checkpoints is not None:
        options.update(resume=resume, on_checkpoint=keep, checkpoints=checkpoints)
    if engine is not None:
        options["engine"] = engine
    if workers is not None:
        options["workers"] = workers
    if backend is not None:
        options["backend"] = backend
    try:
        if points:
            configs = [p.config for p in points]  # (checked by the plan)
            run_configs(configs, on_record=commit, on_start=start, validate=False, **options)
    except StorageError:
        raise
    except TasksFailedError as err:  # the failed configs are stored as `error`
        _forget(store, unfinished)
        done = initial + len(points) - len(unfinished) - failed
        raise TrainingFailedError(name, store.path, done, err) from err
    except OptiscopeError:
        _forget(store, unfinished)
        raise
    except Exception as err:
        _forget(store, unfinished)
        done = initial + len(points) - len(unfinished)
        raise TrainingFailedError(name, store.path, done, err) from err
    finally:
        bar.close()
    return len(points) - len(unfinished), len(resume)


def _checkpoints(store: SqliteStore, keys: list[str]) -> dict[str, Checkpoint]:
    """The stored checkpoints of these runs that this optiscope can read (one it cannot,
    from another version, is passed over: that config trains from the start)."""
    found = {}
    for key, saved in store.checkpoints(keys).items():
        with contextlib.suppress(ValueError):
            found[key] = Checkpoint.from_bytes(saved.data)
    return found


def _forget(store: SqliteStore, keys: set[str]) -> None:
    """Delete the checkpoints of configs whose training failed: the state they hold may be
    what failed, so those configs start over."""
    with contextlib.suppress(OptiscopeError):
        store.delete_checkpoints(sorted(keys))


def _release(store: SqliteStore, owner: str) -> None:
    """Give back unfinished configs; if even that fails (full disk), the next run recovers
    them as stale, because their owner is no longer active."""
    with contextlib.suppress(OptiscopeError):
        store.release(None, owner)
