"""Turn sqlite3's errors into :class:`StorageError` messages a user can act on.

Each message names the store file, says what happened in plain words, and what to do; damage
points to ``optiscope doctor``.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from optiscope.errors import StorageError
from optiscope.storage._location import default_store_path

__all__ = ["DiskFullError", "doctor_hint", "resume_hint", "storage_error", "store_flag"]


def doctor_hint(path: Path | str) -> str:
    return f"run `optiscope doctor{store_flag(path)}` for a check and advice"


def resume_hint(names: str | Iterable[str] | None, path: Path | str, *, force: bool = False) -> str:
    """The command that continues these sweeps of the store at ``path``, in backquotes.

    ``--store`` is added where the store is not the one found by default.
    """
    listed = [names] if isinstance(names, str) else sorted(names or [])
    extra = store_flag(path) + (" --force" if force else "")
    if not listed:
        listing = f"optiscope runs list{store_flag(path)}"
        return f"`optiscope resume NAME{extra}` (NAME: see `{listing}`)"
    return " or ".join(f"`optiscope resume {name}{extra}`" for name in listed)


def store_flag(path: Path | str) -> str:
    """`` --store PATH``, or nothing where ``path`` is the store found by default."""
    same = Path(path).absolute() == default_store_path().absolute()
    return "" if same else f" --store {path}"


class DiskFullError(StorageError):
    """The disk holding the store is full; what was finished is kept.

    Args:
        path: the store file.
        action: what optiscope was doing, as a gerund phrase.
        sweep: the sweep being written, for the command that continues it.
    """

    def __init__(self, path: Path | str, action: str, sweep: str | None = None) -> None:
        self.path, self.action = path, action
        super().__init__(
            f"the disk holding the results store {path} is full (while {action}). The store is "
            "intact and keeps every config finished so far; free some space, then run the "
            f"same sweep again or {resume_hint(sweep, path)} to train only what is missing."
        )


def storage_error(path: Path | str, action: str, err: BaseException) -> StorageError:
    """A :class:`StorageError` for ``err``, raised while ``action`` (``"saving a run"``).

    Args:
        path: the store file.
        action: what optiscope was doing, as a gerund phrase.
        err: the ``sqlite3.Error`` or ``OSError`` caught.
    """
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err)
    if name.startswith("SQLITE_FULL") or "disk is full" in text or _is_enospc(err):
        return DiskFullError(path, action)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
        return StorageError(
            f"the results store {path} is damaged or is not an optiscope store ({text}; while "
            f"{action}); {doctor_hint(path)}."
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StorageError(
            f"the results store {path} stayed locked by another process (while {action}); "
            "wait for the other sweep to finish or stop it, then try again."
        )
    if name.startswith("SQLITE_READONLY") or _is_errno(err, errno.EACCES, errno.EROFS):
        return StorageError(
            f"the results store {path} cannot be written (while {action}): {text}. Check the "
            "file's and folder's permissions, or choose another store with --store PATH."
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StorageError(
            f"cannot open the results store {path} (while {action}): {text}. Check that its "
            "folder exists and can be written, or choose another store with --store PATH."
        )
    return StorageError(
        f"the results store {path} failed while {action}: {text}; {doctor_hint(path)}."
    )


def _is_errno(err: BaseException, *codes: int) -> bool:
    return isinstance(err, OSError) and err.errno in codes


def _is_enospc(err: BaseException) -> bool:
    if _is_errno(err, errno.ENOSPC, errno.EDQUOT):
        return True
    name = getattr(err, "sqlite_errorname", "") or ""
    return isinstance(err, sqlite3.Error) and name.startswith("SQLITE_IOERR") and "full" in str(err)
