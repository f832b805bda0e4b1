"""Check a store file: what is wrong, and which remedy applies (the command line words it).

Each :class:`Finding` names its remedy as a :data:`Remedy` with the data it needs (the sweeps
concerned); ``optiscope doctor`` turns that into advice with the commands to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from optiscope.errors import NotAStoreError, StorageError, StoreUnavailableError
from optiscope.storage._owner import owner_alive
from optiscope.storage._sqlite import SqliteStore

__all__ = ["DoctorReport", "Finding", "diagnose"]

Level = Literal["ok", "info", "warning", "error"]

#: What to do about a finding: ``create`` (a sweep creates the store), ``not-a-file``,
#: ``permissions``, ``empty`` (an empty file: delete it), ``foreign`` (not an optiscope store:
#: leave it alone, use another file), ``rebuild`` (damaged: move aside, run the sweeps again),
#: ``upgrade`` (written by a newer optiscope), ``wal`` (switch the journal mode), ``resume``
#: (interrupted runs of ``sweeps``), ``takeover`` (runs held by another host), or none.
Remedy = Literal[
    "",
    "create",
    "not-a-file",
    "permissions",
    "empty",
    "foreign",
    "rebuild",
    "upgrade",
    "wal",
    "resume",
    "takeover",
]

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found.

    Attributes:
        level: ``ok``, ``info``, ``warning`` (works, but needs attention) or ``error``
            (the store cannot be used as it is).
        message: what was found.
        remedy: what to do about it (see :data:`Remedy`; empty when nothing is needed).
        sweeps: the sweeps the remedy concerns (``resume``, ``takeover``).
    """

    level: Level
    message: str
    remedy: Remedy = ""
    sweeps: tuple[str, ...] = ()


@dataclass(frozen=True)
class DoctorReport:
    """Everything :func:`diagnose` found about one store file."""

    path: Path
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        """No finding at level ``error``."""
        return all(f.level != "error" for f in self.findings)

    def to_dict(self) -> dict[str, object]:
        return {
            "store": str(self.path),
            "healthy": self.healthy,
            "findings": [
                {"level": f.level, "message": f.message, "remedy": f.remedy, "sweeps": f.sweeps}
                for f in self.findings
            ],
        }


def diagnose(path: str | Path) -> DoctorReport:
    """Check a results store: file, sqlite integrity, schema, interrupted runs.

    Never raises for a bad store: every problem becomes a :class:`Finding` with advice.

    Args:
        path: the store file.
    """
    path = Path(path)
    found = _diagnose(path)
    return DoctorReport(path=path, findings=tuple(found))


def _diagnose(path: Path) -> list[Finding]:
    if not path.exists():
        return [Finding("info", f"there is no results store at {path} yet", "create")]
    if not path.is_file():
        return [Finding("error", f"{path} is not a file", "not-a-file")]
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as err:
        return [Finding("error", f"{path} cannot be read: {err}", "permissions")]
    if not header:
        return [Finding("warning", f"{path} is an empty file", "empty")]
    if header != SQLITE_HEADER:
        message = f"{path} is not an sqlite database (its first bytes are not sqlite's header)"
        return [Finding("error", message, "foreign")]
    try:
        store = SqliteStore(path, create=False)
    except NotAStoreError as err:
        return [Finding("error", str(err), "foreign")]
    except StoreUnavailableError as err:
        return [Finding("error", str(err), "upgrade" if err.reason == "newer" else "")]
    except StorageError as err:
        return [Finding("error", str(err), "rebuild")]
    try:
        return _check_open(store)
    except StorageError as err:
        return [Finding("error", str(err), "rebuild")]
    finally:
        store.close()


def _check_open(store: SqliteStore) -> list[Finding]:
    path = store.path
    problems = store.check()
    if problems:
        return [Finding("error", f"{path}: {'; '.join(problems)}", "rebuild")]
    findings: list[Finding] = []
    sweeps = store.sweeps()
    runs = sum(info.total for info in sweeps)
    findings.append(
        Finding("ok", f"{path}: sound (quick_check ok); {len(sweeps)} sweeps, {runs} runs")
    )
    mode = store.journal_mode()
    if mode != "wal":
        findings.append(
            Finding(
                "warning",
                f"journal mode is {mode!r}, not 'wal': readers may wait while a sweep writes",
                "wal",
            )
        )
    stale: set[str] = set()
    stale_runs = 0
    live: list[str] = []
    foreign: list[str] = []
    foreign_sweeps: set[str] = set()
    for _key, owner, names in store.running():
        alive = owner_alive(owner) if owner else False
        if alive is False:
            stale.update(names)
            stale_runs += 1
        elif alive:
            live.append(owner or "")
        else:
            foreign.append(owner or "unknown")
            foreign_sweeps.update(names)
    if stale_runs:
        which = f" of sweep {', '.join(sorted(stale))}" if stale else ""
        findings.append(
            Finding(
                "warning",
                f"{stale_runs} runs{which} were interrupted while training (their process is gone)",
                "resume",
                tuple(sorted(stale)),
            )
        )
    if live:
        pids = sorted({owner.split(":")[1] for owner in live if owner.count(":") >= 1})
        findings.append(
            Finding("info", f"{len(live)} runs are being trained now (process {', '.join(pids)})")
        )
    if foreign:
        hosts = sorted({owner.split(":")[0] for owner in foreign})
        findings.append(
            Finding(
                "warning",
                f"{len(foreign)} runs are marked running by another host ({', '.join(hosts)})",
                "takeover",
                tuple(sorted(foreign_sweeps)),
            )
        )
    return findings
