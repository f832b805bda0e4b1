"""Exceptions raised by optiscope: the whole tree, in one module.

Every error says what went wrong and the bad value. Errors raised below the command line carry
data (paths, names, numbers) as attributes; the command line and the web page turn them into
advice (``optiscope resume NAME --store PATH``), so no lower layer writes CLI text.

::

    OptiscopeError
    ├── ConfigError (also ValueError)     bad settings, caught before anything runs
    │   └── TooManyConfigsError           a plan larger than its cap (counted, not expanded)
    ├── DataError (also ValueError)       bad or unusable data (shapes, NaN, empty splits)
    ├── StorageError                      the results store cannot be read or written
    │   ├── StoreNotFoundError            no store file where one was expected
    │   ├── NotAStoreError                a file that is not an optiscope store (foreign, empty)
    │   ├── StoreDamagedError             a store whose pages or schema are broken
    │   ├── StoreUnavailableError         locked, read-only, cannot be opened, newer schema
    │   ├── DiskFullError                 the disk is full; what was finished is kept
    │   ├── SweepNotFoundError            no sweep of that name in the store
    │   └── SweepExistsError              the name is taken by a sweep with another spec
    ├── EngineError                       a training engine could not run a group
    │   ├── InexactError                  stacked kernels are not exact here (the sweep layer
    │   │                                 then trains with the reference engine)
    │   ├── TasksFailedError              some tasks raised; their configs are `error`, the
    │   │                                 rest finished (the Ray backend)
    │   └── TrainingFailedError           a sweep's training failed; finished configs kept
    └── MissingExtraError (also ImportError)  an optional extra is not installed
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "DataError",
    "DiskFullError",
    "EngineError",
    "InexactError",
    "MissingExtraError",
    "NotAStoreError",
    "OptiscopeError",
    "StorageError",
    "StoreDamagedError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "SweepExistsError",
    "SweepNotFoundError",
    "TasksFailedError",
    "TooManyConfigsError",
    "TrainingFailedError",
]


class OptiscopeError(Exception):
    """Base class of every error optiscope raises on purpose."""


class ConfigError(OptiscopeError, ValueError):
    """A setting is invalid; raised before anything is trained."""


class DataError(OptiscopeError, ValueError):
    """Data cannot be used: wrong shape, NaN or inf values, or an empty split."""


class StorageError(OptiscopeError):
    """The results store cannot be opened, read or written.

    Attributes:
        path: the store file (``None`` where no file is involved).
    """

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class StoreNotFoundError(StorageError, LookupError):
    """No store file at the path given (a user mistake: the CLI exits with code 2)."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(f"there is no results store at {path}", path=path)


class NotAStoreError(StorageError):
    """The file exists but is not an optiscope store: another program's sqlite file (its
    ``tables``), an empty file, or not sqlite at all. optiscope never writes to it."""

    def __init__(self, path: Path | str, reason: str, tables: tuple[str, ...] = ()) -> None:
        super().__init__(f"{path} is not an optiscope results store: {reason}", path=path)
        self.reason, self.tables = reason, tables


class StoreDamagedError(StorageError):
    """The store's pages or schema are broken (the doctor says what to do)."""


class StoreUnavailableError(StorageError):
    """The store is sound but cannot be used now: locked by another process, read-only,
    impossible to open, or written by a newer optiscope.

    Attributes:
        reason: ``locked``, ``read-only``, ``cannot-open`` or ``newer``.
    """

    def __init__(self, message: str, *, path: Path | str, reason: str) -> None:
        super().__init__(message, path=path)
        self.reason = reason


class DiskFullError(StorageError):
    """The disk holding the store is full; the store is intact and keeps what was finished.

    Attributes:
        action: what optiscope was doing, as a gerund phrase.
        sweep: the sweep being written, where known.
    """

    def __init__(self, path: Path | str, action: str, sweep: str | None = None) -> None:
        super().__init__(
            f"the disk holding the results store {path} is full (while {action}); the store is "
            "intact and keeps every config finished so far",
            path=path,
        )
        self.action, self.sweep = action, sweep


class SweepNotFoundError(StorageError, LookupError):
    """No sweep of that name in the store (a user mistake: the CLI exits with code 2).

    Attributes:
        name: the name asked for.
        known: the sweeps the store holds.
    """

    def __init__(self, name: str, path: Path | str, known: tuple[str, ...]) -> None:
        holds = f"it holds: {', '.join(known)}" if known else "it holds no sweeps yet"
        super().__init__(f"no sweep named {name!r} in the results store {path}; {holds}", path=path)
        self.name, self.known = name, known


class SweepExistsError(StorageError):
    """A sweep of that name exists with another spec; nothing was changed (registering it
    would replace the stored sweep's config list and leave its runs to no sweep).

    Attributes:
        name: the name.
        stored: the stored sweep's spec (JSON-ready).
        given: the spec that was to be registered.
        dropped: configs of the stored sweep that the new spec leaves out (extending a
            sweep may only add configs).
    """

    def __init__(
        self,
        name: str,
        path: Path | str,
        stored: Mapping[str, Any],
        given: Mapping[str, Any],
        *,
        dropped: int = 0,
    ) -> None:
        differ = sorted(k for k in {*stored, *given} - {"name"} if stored.get(k) != given.get(k))
        left = f"; the new spec leaves out {dropped} of its configs" if dropped else ""
        super().__init__(
            f"the results store {path} already has a sweep named {name!r} with another spec "
            f"(it differs in: {', '.join(differ)}){left}; nothing was changed",
            path=path,
        )
        self.name, self.stored, self.given = name, dict(stored), dict(given)
        self.dropped = dropped


class EngineError(OptiscopeError):
    """A training engine failed for a reason other than the settings."""


class InexactError(EngineError):
    """No stacked form reproduces the plain model's numbers for some operation (or the
    optimizer's update) on this machine; caught by the sweep layer, which then trains those
    configs with the reference engine."""


class TasksFailedError(EngineError):
    """Some tasks raised while the others went on; each failed config got an ``error``
    record carrying its task's message.

    Attributes:
        configs: configs whose task failed.
        tasks: tasks that failed.
        messages: the distinct error messages (the first line of each).
    """

    def __init__(self, configs: int, tasks: int, messages: tuple[str, ...]) -> None:
        shown = "; ".join(messages[:3]) + (
            f"; and {len(messages) - 3} more" if len(messages) > 3 else ""
        )
        super().__init__(
            f"{tasks} task(s) of {configs} config(s) failed, the other tasks finished: {shown}"
        )
        self.configs, self.tasks, self.messages = configs, tasks, messages


class TrainingFailedError(EngineError):
    """Training failed during a sweep; the configs finished before are kept in the store.

    Attributes:
        sweep: the sweep's name.
        path: the store file.
        finished: configs of the sweep finished (stored) when it failed.
    """

    def __init__(self, sweep: str, path: Path | str, finished: int, cause: BaseException) -> None:
        super().__init__(
            f"training failed in sweep {sweep!r}: {type(cause).__name__}: {cause}. The "
            f"{finished} configs finished so far are kept in {path}"
        )
        self.sweep, self.path, self.finished = sweep, Path(path), finished


class TooManyConfigsError(ConfigError):
    """A sweep counts more configs than the cap it was planned with; nothing was expanded.

    Attributes:
        size: configs the spec describes (counted from its sizes).
        cap: the largest plan allowed without asking.
    """

    def __init__(self, size: int, cap: int) -> None:
        self.size, self.cap = size, cap
        super().__init__(
            f"the sweep has {size:,} configs, more than the cap of {cap:,}; plan it with a "
            "larger max_configs (or None) if you mean it. Nothing was run."
        )


class MissingExtraError(OptiscopeError, ImportError):
    """A feature needs an optional extra that is not installed.

    Attributes:
        extra: the extra of the optiscope package that installs it (``ray``).
        module: the module that could not be imported.
        feature: what needs it, in a few words.
    """

    def __init__(self, extra: str, module: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the Python package {module!r}, which is not installed; it comes "
            f"with optiscope's optional extra {extra!r}"
        )
        self.extra, self.module, self.feature = extra, module, feature
