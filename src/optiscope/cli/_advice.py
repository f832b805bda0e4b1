"""What to do about an error, in the command line's words.

Lower layers raise errors that carry data (the store's path, a sweep's name, why a store
cannot be used); this module turns them into advice with the commands to run, so CLI text
lives in the CLI layer only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from optiscope.errors import (
    DiskFullError,
    MissingExtraError,
    NotAStoreError,
    OptiscopeError,
    StorageError,
    StoreNotFoundError,
    StoreUnavailableError,
    SweepExistsError,
    SweepNotFoundError,
    TrainingFailedError,
)

__all__ = ["advice", "doctor_hint", "remedy_advice", "resume_hint", "store_flag"]


def store_flag(path: Path | str | None) -> str:
    """`` --store PATH``, or nothing where ``path`` is the store found by default."""
    from optiscope.storage import default_store_path

    if path is None or Path(path).absolute() == default_store_path().absolute():
        return ""
    return f" --store {path}"


def doctor_hint(path: Path | str | None) -> str:
    return f"run `optiscope doctor{store_flag(path)}` for a check and advice"


def resume_hint(names: str | Iterable[str] | None, path: Path | str, *, force: bool = False) -> str:
    """The command that continues these sweeps of the store at ``path``, in backquotes."""
    listed = [names] if isinstance(names, str) else sorted(names or [])
    extra = store_flag(path) + (" --force" if force else "")
    if not listed:
        listing = f"optiscope runs list{store_flag(path)}"
        return f"`optiscope resume NAME{extra}` (NAME: see `{listing}`)"
    return " or ".join(f"`optiscope resume {name}{extra}`" for name in listed)


def advice(err: OptiscopeError) -> str:
    """What the user can do about ``err`` (empty when its message says it all)."""
    if isinstance(err, MissingExtraError):
        return f"install it with `pip install 'optiscope[{err.extra}]'`"
    if isinstance(err, TrainingFailedError):
        return f"fix the cause, then {resume_hint(err.sweep, err.path)} trains the rest"
    if not isinstance(err, StorageError):
        return ""
    path = err.path
    if isinstance(err, StoreNotFoundError):
        return (
            "run a sweep first (`optiscope sweep ...`), or point to one with --store PATH or "
            "$OPTISCOPE_STORE"
        )
    if isinstance(err, SweepNotFoundError):
        return f"see `optiscope runs list{store_flag(path)}`"
    if isinstance(err, SweepExistsError):
        return (
            f"choose another name with --name, or remove the stored sweep first with "
            f"`optiscope runs rm {err.name}{store_flag(path)}`"
        )
    if isinstance(err, NotAStoreError):
        return (
            "optiscope leaves it alone; point --store to another file (a new name starts a "
            "fresh store)"
        )
    if isinstance(err, DiskFullError):
        return (
            "free some space, then run the same sweep again or "
            f"{resume_hint(err.sweep, path or '')} to train only what is missing"
        )
    if isinstance(err, StoreUnavailableError):
        return {
            "locked": "wait for the other sweep to finish or stop it, then try again",
            "read-only": (
                "check the file's and folder's permissions, or choose another store with "
                "--store PATH"
            ),
            "cannot-open": (
                "check that its folder exists and can be written, or choose another store "
                "with --store PATH"
            ),
            "newer": "upgrade optiscope, or choose another store with --store PATH",
        }.get(err.reason, doctor_hint(path))
    return doctor_hint(path)  # (a damaged store, or anything else)


def remedy_advice(remedy: str, path: Path, sweeps: Iterable[str] = ()) -> str:
    """The doctor's advice for a finding's remedy (see :data:`optiscope.storage.Finding`)."""
    texts = {
        "create": "a sweep creates it.",
        "not-a-file": "point --store (or $OPTISCOPE_STORE) to a file such as results.sqlite.",
        "permissions": "check its permissions.",
        "empty": (
            "it holds nothing: point --store to another file, or, if this empty file is the "
            "store you meant, remove it and the next sweep creates a fresh one."
        ),
        "foreign": (
            "it is not an optiscope results store, and optiscope does not write to it: point "
            "--store (or $OPTISCOPE_STORE) to another file; a new name starts a fresh store. "
            f"If {path} was an optiscope store, it is beyond repair: move it aside and run "
            "your sweeps again."
        ),
        "rebuild": (
            "The store only holds results that can be computed again. Keep a copy, move it "
            f"aside (`mv {path} {path}.damaged`) and run your sweeps again: they rebuild it. To "
            "salvage what is still readable first, use the sqlite3 command-line tool: "
            f"`sqlite3 {path}.damaged .recover | sqlite3 {path}`, then run "
            f"`optiscope doctor{store_flag(path)}` again."
        ),
        "upgrade": "upgrade optiscope, or choose another store with --store PATH.",
        "wal": f"switch it once with `sqlite3 {path} 'PRAGMA journal_mode=WAL'`.",
        "resume": (
            f"nothing is lost: {resume_hint(sweeps, path)} (or running the sweep again) trains "
            "them again; finished runs are kept."
        ),
        "takeover": (
            "if no sweep runs there any more, "
            f"{resume_hint(sweeps, path, force=True)} takes them over."
        ),
    }
    return texts.get(remedy, "")
