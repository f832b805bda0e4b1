"""What a results store holds and the interface every store implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from optiscope.records import Curve, RunConfig, RunRecord

__all__ = [
    "FINISHED",
    "RUN_STATUSES",
    "ResultStore",
    "RunStatus",
    "SavedCheckpoint",
    "StoredRun",
    "SweepEntry",
    "SweepInfo",
]

RunStatus = Literal["pending", "running", "done", "diverged", "error"]

#: Every status a stored run can have: ``pending`` (registered, not started), ``running``
#: (a runner holds it), then one of the final statuses of :class:`RunRecord`.
RUN_STATUSES: tuple[str, ...] = ("pending", "running", "done", "diverged", "error")

#: Statuses that mean "trained to the end": never trained again.
FINISHED: frozenset[str] = frozenset({"done", "diverged"})


@dataclass(frozen=True)
class SweepEntry:
    """One config of a sweep as the store registers it.

    Attributes:
        config: the run's settings; its key identifies the run across sweeps.
        labels: what this config is within the sweep (its swept settings and seed), JSON-ready.
    """

    config: RunConfig
    labels: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedCheckpoint:
    """A running config's training state at an epoch end, as the store keeps it.

    Attributes:
        key: :meth:`RunConfig.key` of the run.
        epoch: epochs trained.
        engine: the engine that wrote it (only that engine resumes from it).
        data: the engine's encoding (:meth:`optiscope.engine.Checkpoint.to_bytes`); the store
            does not look inside.
    """

    key: str
    epoch: int
    engine: str
    data: bytes


@dataclass(frozen=True)
class StoredRun:
    """One run of a sweep, as stored.

    Attributes:
        position: its place in the sweep (0-based; config number - 1).
        key: :meth:`RunConfig.key`.
        config: the run's settings.
        labels: its swept settings and seed within the sweep.
        status: ``pending``, ``running``, ``done``, ``diverged`` or ``error``.
        starts: attempts: how many times a runner took it on to train (1 for a run that was
            never interrupted; a finished run is never taken on again).
        created, started, finished: unix times (``None`` where it has not happened).
        engine: the engine that trained it.
        diverged_epoch: the epoch whose loss was not finite, for ``diverged`` runs.
        error: the error text, for ``error`` runs.
        curve: per-epoch values, for finished runs (``None`` otherwise).
    """

    position: int
    key: str
    config: RunConfig
    labels: Mapping[str, Any]
    status: RunStatus
    starts: int = 0
    created: float | None = None
    started: float | None = None
    finished: float | None = None
    engine: str | None = None
    diverged_epoch: int | None = None
    error: str | None = None
    curve: Curve | None = None

    @property
    def record(self) -> RunRecord | None:
        """The :class:`RunRecord`, for ``done``, ``diverged`` and ``error`` runs."""
        if self.status in ("pending", "running"):
            return None
        return RunRecord(
            config=self.config,
            curve=self.curve if self.curve is not None else Curve(),
            status=self.status,  # type: ignore[arg-type]
            diverged_epoch=self.diverged_epoch,
            error=self.error,
            engine=self.engine or "unknown",
        )


@dataclass(frozen=True)
class SweepInfo:
    """A sweep's entry in a listing.

    Attributes:
        name: the sweep's name.
        spec: the sweep's spec as JSON-ready data (see :class:`optiscope.SweepSpec`).
        created, updated: unix times.
        version: the optiscope version that last registered it.
        counts: how many of its runs have each status (every status present, zero included).
    """

    name: str
    spec: Mapping[str, Any]
    created: float
    updated: float
    version: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in FINISHED)


class ResultStore(Protocol):
    """What the sweep runner, the result objects and the CLI need from a store.

    Every implementation passes the contract tests in ``tests/test_storage.py``.
    """

    @property
    def path(self) -> Path: ...

    def close(self) -> None: ...

    def save_sweep(
        self,
        name: str,
        spec: Mapping[str, Any],
        entries: Sequence[SweepEntry],
        *,
        extend: bool = False,
    ) -> None:
        """Register (or continue) a sweep and its configs; new runs start ``pending``. A name
        taken by another spec is refused unless ``extend`` (and the new configs keep all the
        old ones)."""

    def sweeps(self) -> list[SweepInfo]:
        """Every sweep, oldest first."""

    def sweep_info(self, name: str) -> SweepInfo:
        """One sweep; :class:`~optiscope.errors.StorageError` naming the known ones if absent."""

    def remove_sweep(self, name: str) -> int:
        """Delete a sweep and the runs no other sweep uses; returns how many runs went."""

    def runs(self, name: str, *, curves: bool = True) -> list[StoredRun]:
        """A sweep's runs in its order (one consistent snapshot)."""

    def statuses(self, keys: Sequence[str]) -> dict[str, RunStatus]:
        """The status of each stored key."""

    def recover_stale(self, *, force: bool = False) -> list[str]:
        """Put ``running`` rows whose runner is gone (all of them with ``force``) back to
        ``pending``; returns their keys."""

    def claim(self, keys: Sequence[str], owner: str) -> list[str]:
        """Mark ``pending``/``error`` runs as ``running`` by ``owner``; returns those claimed."""

    def release(self, keys: Sequence[str] | None, owner: str) -> None:
        """Put runs that ``owner`` still holds back to ``pending`` (``None``: all of them)."""

    def put_record(self, record: RunRecord) -> None:
        """Store a finished run: curve and status in one transaction."""

    def put_checkpoints(self, checkpoints: Sequence[SavedCheckpoint]) -> int:
        """Store running configs' latest training states (others are dropped); returns how
        many were stored."""

    def checkpoints(self, keys: Sequence[str]) -> dict[str, SavedCheckpoint]:
        """The stored checkpoint of each key that has one."""

    def checkpoint_epochs(self, name: str) -> dict[str, int]:
        """By key, the checkpoint epoch of each of a sweep's runs that has one."""

    def delete_checkpoints(self, keys: Sequence[str]) -> None:
        """Forget these runs' checkpoints."""

    def check(self) -> list[str]:
        """Integrity problems found (empty when the store is sound)."""
