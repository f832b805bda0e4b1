"""``optiscope doctor``: check a store file and say what to do about each problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from optiscope.errors import StorageError
from optiscope.storage._errors import doctor_hint, resume_hint
from optiscope.storage._owner import owner_alive
from optiscope.storage._sqlite import SqliteStore

__all__ = ["DoctorReport", "Finding", "diagnose"]

Level = Literal["ok", "info", "warning", "error"]

SQLITE_HEADER = b"SQLite format 3\x00"


def _rebuild_advice(path: Path) -> str:
    return (
        f"The store only holds results that can be computed again. Keep a copy, move it aside "
        f"(`mv {path} {path}.damaged`) and run your sweeps again: they rebuild it. To salvage "
        "what is still readable first, use the sqlite3 command-line tool: "
        f"`sqlite3 {path}.damaged .recover | sqlite3 {path}`, then run `optiscope doctor` again."
    )


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found.

    Attributes:
        level: ``ok``, ``info``, ``warning`` (works, but needs attention) or ``error``
            (the store cannot be used as it is).
        message: what was found.
        advice: what to do about it (empty when nothing is needed).
    """

    level: Level
    message: str
    advice: str = ""


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
                {"level": f.level, "message": f.message, "advice": f.advice} for f in self.findings
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
        return [Finding("info", f"there is no results store at {path} yet", "a sweep creates it.")]
    if not path.is_file():
        return [
            Finding(
                "error",
                f"{path} is not a file",
                "point --store (or $OPTISCOPE_STORE) to a file such as results.sqlite.",
            )
        ]
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as err:
        return [Finding("error", f"{path} cannot be read: {err}", "check its permissions.")]
    if not header:
        return [
            Finding(
                "warning",
                f"{path} is an empty file",
                f"delete it (`rm {path}`); the next sweep creates a fresh store.",
            )
        ]
    if header != SQLITE_HEADER:
        return [
            Finding(
                "error",
                f"{path} is not an sqlite database (its first bytes are not sqlite's header)",
                _rebuild_advice(path),
            )
        ]
    try:
        store = SqliteStore(path, create=False)
    except StorageError as err:
        return [Finding("error", _without_doctor_hint(err, path), _rebuild_advice(path))]
    try:
        return _check_open(store)
    except StorageError as err:
        return [Finding("error", _without_doctor_hint(err, path), _rebuild_advice(path))]
    finally:
        store.close()


def _without_doctor_hint(err: StorageError, path: Path) -> str:
    """The error's text without its advice to run the doctor: this is the doctor."""
    return str(err).replace(f"; {doctor_hint(path)}", "")


def _check_open(store: SqliteStore) -> list[Finding]:
    path = store.path
    problems = store.check()
    if problems:
        return [Finding("error", f"{path}: {'; '.join(problems)}", _rebuild_advice(path))]
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
                f"switch it once with `sqlite3 {path} 'PRAGMA journal_mode=WAL'`.",
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
                f"nothing is lost: {resume_hint(stale, path)} (or running the sweep "
                "again) trains them again; finished runs are kept.",
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
                f"if no sweep runs there any more, "
                f"{resume_hint(foreign_sweeps, path, force=True)} takes them over.",
            )
        )
    return findings
