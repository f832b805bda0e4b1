"""Turn sqlite3's errors into typed :class:`StorageError` s that carry the store's path.

Each message says what happened in plain words; what to do about it is the command line's to
say (``optiscope.cli``), from the error's type and attributes.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from optiscope.errors import DiskFullError, StorageError, StoreDamagedError, StoreUnavailableError

__all__ = ["storage_error"]


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
        return StoreDamagedError(
            f"the results store {path} is damaged or is not an optiscope store ({text}; while "
            f"{action})",
            path=path,
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreUnavailableError(
            f"the results store {path} stayed locked by another process (while {action})",
            path=path,
            reason="locked",
        )
    if name.startswith("SQLITE_READONLY") or _is_errno(err, errno.EACCES, errno.EROFS):
        return StoreUnavailableError(
            f"the results store {path} cannot be written (while {action}): {text}",
            path=path,
            reason="read-only",
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreUnavailableError(
            f"cannot open the results store {path} (while {action}): {text}",
            path=path,
            reason="cannot-open",
        )
    return StoreDamagedError(f"the results store {path} failed while {action}: {text}", path=path)


def _is_errno(err: BaseException, *codes: int) -> bool:
    return isinstance(err, OSError) and err.errno in codes


def _is_enospc(err: BaseException) -> bool:
    if _is_errno(err, errno.ENOSPC, errno.EDQUOT):
        return True
    name = getattr(err, "sqlite_errorname", "") or ""
    return isinstance(err, sqlite3.Error) and name.startswith("SQLITE_IOERR") and "full" in str(err)
