"""The results store: sweeps, runs and per-epoch curves in sqlite (no torch here)."""

from optiscope.storage._doctor import DoctorReport, Finding, diagnose
from optiscope.storage._location import DEFAULT_STORE, STORE_ENV, default_store_path
from optiscope.storage._owner import new_owner, owner_alive, release_owner
from optiscope.storage._schema import SCHEMA_VERSION
from optiscope.storage._sqlite import SqliteStore
from optiscope.storage._types import (
    FINISHED,
    RUN_STATUSES,
    ResultStore,
    RunStatus,
    SavedCheckpoint,
    StoredRun,
    SweepEntry,
    SweepInfo,
)

__all__ = [
    "DEFAULT_STORE",
    "FINISHED",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STORE_ENV",
    "DoctorReport",
    "Finding",
    "ResultStore",
    "RunStatus",
    "SavedCheckpoint",
    "SqliteStore",
    "StoredRun",
    "SweepEntry",
    "SweepInfo",
    "default_store_path",
    "diagnose",
    "new_owner",
    "owner_alive",
    "release_owner",
]
