"""The results store on stdlib sqlite3 in WAL mode: one writer at a time, readers any time.

Facts it relies on (see DESIGN.md, "Storage"):

- WAL lets readers (figures, exports, a web page) read while a sweep writes.
- The process that creates the file sets WAL and the schema inside one immediate
  transaction, retrying while another process holds the lock, so processes racing to create
  a fresh file all succeed.
- Every connection sets ``busy_timeout``: a writer waits for another writer instead of failing.
- A finished run (its status and every epoch of its curve) is one transaction, so a crash
  never leaves half a run; ``synchronous=FULL`` makes a committed run survive power loss.
- sqlite stores NaN as NULL: the ``status`` column, not the numbers, says a run diverged.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optiscope._version import __version__
from optiscope.errors import (
    NotAStoreError,
    StorageError,
    StoreDamagedError,
    StoreNotFoundError,
    StoreUnavailableError,
    SweepExistsError,
    SweepNotFoundError,
)
from optiscope.records import Curve, RunConfig, RunRecord
from optiscope.storage._errors import storage_error
from optiscope.storage._location import default_store_path
from optiscope.storage._owner import owner_alive
from optiscope.storage._schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION, TABLES
from optiscope.storage._types import (
    RUN_STATUSES,
    RunStatus,
    SavedCheckpoint,
    StoredRun,
    SweepEntry,
    SweepInfo,
)

__all__ = ["SqliteStore"]

# Keys per statement when a query lists keys (well under sqlite's variable limit).
_CHUNK = 500

_RUN_COLUMNS = (
    "sr.position, sr.key, sr.labels, r.config, r.status, r.starts, r.created, r.started, "
    "r.finished, r.engine, r.diverged_epoch, r.error"
)


def _float_or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _unnamed(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec without its name: two specs that differ only there describe the same sweep."""
    return {k: v for k, v in spec.items() if k != "name"}


#: The path of an in-memory store (sqlite's name for it).
IN_MEMORY = ":memory:"


class SqliteStore:
    """The results store: sweeps, runs and per-epoch curves in one sqlite file.

    Use it as a context manager (or call :meth:`close`); one store object per thread.

    Args:
        path: the store file; ``None`` means :func:`default_store_path`
            (``$OPTISCOPE_STORE`` or ``./.optiscope/results.sqlite``).
        create: create the file (and its folder) when missing; readers pass ``False`` and
            get a clear error instead of an empty store.
        timeout: seconds to wait for another process's write lock before giving up.

    Raises:
        StorageError: the file is missing (``create=False``), damaged, not an optiscope
            store, from a newer optiscope, or cannot be created; the message names the file.

    Examples:
        >>> with SqliteStore("results.sqlite") as store:  # doctest: +SKIP
        ...     print([info.name for info in store.sweeps()])
    """

    def __init__(
        self, path: str | Path | None = None, *, create: bool = True, timeout: float = 30.0
    ) -> None:
        self._path = Path(path) if path is not None else default_store_path()
        self._timeout = timeout
        if self._path.is_dir():
            raise NotAStoreError(self._path, "it is a folder; give a file such as results.sqlite")
        if not create and not self._path.is_file():
            raise StoreNotFoundError(self._path)
        try:
            if create:
                if str(self._path) != IN_MEMORY:
                    self._path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self._path, timeout=timeout, isolation_level=None)
            else:
                uri = f"{self._path.absolute().as_uri()}?mode=rw"
                conn = sqlite3.connect(uri, timeout=timeout, isolation_level=None, uri=True)
        except (sqlite3.Error, OSError) as err:
            raise storage_error(self._path, "opening it", err) from err
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            self._open(conn, create)
        except sqlite3.Error as err:
            self.close()
            raise storage_error(self._path, "opening it", err) from err
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_memory(cls) -> SqliteStore:
        """A store that lives in this process's memory only (``compare_configs`` runs its
        plan on one): the same schema and contract as a file store, gone when closed."""
        return cls(IN_MEMORY)

    # -- opening -----------------------------------------------------------------------------

    def _open(self, conn: sqlite3.Connection, create: bool) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "meta" in tables:
            version = self._check_version(conn)
            if version < SCHEMA_VERSION:
                self._migrate(conn, version)
            return
        if tables:
            found = tuple(sorted(tables))
            raise NotAStoreError(
                self._path,
                f"it is another program's sqlite file (tables {', '.join(found)})",
                found,
            )
        if not create:
            raise NotAStoreError(self._path, "the file is empty (no sweep has written to it)")
        self._initialise(conn)

    def _check_version(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row and str(row[0]).isdigit() else None
        if version is None:
            raise StoreDamagedError(
                f"the results store {self._path} has no schema version", path=self._path
            )
        if version > SCHEMA_VERSION:
            raise StoreUnavailableError(
                f"the results store {self._path} was written by a newer optiscope (schema "
                f"{version}; this is {__version__} with schema {SCHEMA_VERSION})",
                path=self._path,
                reason="newer",
            )
        return version

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        """Bring a store of an older schema up to this one (new tables only, so an older
        optiscope still reads what it knows)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Set WAL and create the tables; safe when several processes race to do it."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() in ("wal", "memory"):  # (an in-memory store has no WAL)
                    break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
            if time.monotonic() > deadline:
                raise StoreUnavailableError(
                    f"could not switch the new results store {self._path} to WAL mode within "
                    f"{self._timeout:g} s: another process keeps it locked",
                    path=self._path,
                    reason="locked",
                )
            time.sleep(0.005 + 0.02 * random.random())
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_by', ?)",
                (f"optiscope {__version__}",),
            )
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The store file."""
        return self._path

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path)!r})"

    @property
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"the results store {self._path} was closed", path=self._path)
        return self._conn

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            # sqlite may have rolled back already (it does so itself on some I/O errors).
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One immediate (write-locked) transaction; sqlite errors become StorageError."""
        conn = self._connection
        # A call interrupted (Ctrl-C) between BEGIN and its handler may have left one open.
        self._rollback(conn)
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise
        except (sqlite3.Error, OSError) as err:
            raise storage_error(self._path, action, err) from err

    @contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same snapshot."""
        conn = self._connection
        self._rollback(conn)
        try:
            try:
                conn.execute("BEGIN")
                yield conn
            finally:
                self._rollback(conn)
        except (sqlite3.Error, OSError) as err:
            raise storage_error(self._path, action, err) from err

    # -- sweeps ------------------------------------------------------------------------------

    def save_sweep(
        self,
        name: str,
        spec: Mapping[str, Any],
        entries: Sequence[SweepEntry],
        *,
        extend: bool = False,
    ) -> None:
        """Register a sweep, or continue it when the name exists with the same spec.

        Runs not yet stored are added as ``pending``; runs already stored (by any sweep) keep
        their status and results.

        Args:
            name: the sweep's name.
            spec: the spec as JSON-ready data.
            entries: its configs in order, with their labels.
            extend: a sweep of that name with another spec may take the new spec and
                configs, if they keep every config it lists (so none is left to no sweep).

        Raises:
            SweepExistsError: when a sweep of that name exists with another spec and
                ``extend`` is off, or the new configs leave out some it lists; nothing is
                changed.
        """
        now = time.time()
        spec_json = json.dumps(spec, sort_keys=True)
        rows = [(e.config.key(), e.config.to_json(), now) for e in entries]
        members = [
            (name, position, e.config.key(), json.dumps(dict(e.labels), sort_keys=True))
            for position, e in enumerate(entries)
        ]
        with self._write(f"registering sweep {name!r}") as conn:
            conflict = self._conflict(conn, name, spec, [key for key, _, _ in rows], extend)
            if conflict is not None:
                raise conflict
            conn.execute(
                "INSERT INTO sweeps (name, spec, created, updated, version) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "spec = excluded.spec, updated = excluded.updated, version = excluded.version",
                (name, spec_json, now, now, __version__),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO runs (key, config, status, created) "
                "VALUES (?, ?, 'pending', ?)",
                rows,
            )
            conn.execute("DELETE FROM sweep_runs WHERE sweep = ?", (name,))
            conn.executemany(
                "INSERT INTO sweep_runs (sweep, position, key, labels) VALUES (?, ?, ?, ?)",
                members,
            )

    def check_sweep(
        self, name: str, spec: Mapping[str, Any], keys: Sequence[str], *, extend: bool = False
    ) -> None:
        """Raise what :meth:`save_sweep` would raise for this sweep, changing nothing.

        Raises:
            SweepExistsError: see :meth:`save_sweep`.
        """
        with self._read(f"checking sweep {name!r}") as conn:
            conflict = self._conflict(conn, name, spec, keys, extend)
        if conflict is not None:
            raise conflict

    def _conflict(
        self,
        conn: sqlite3.Connection,
        name: str,
        spec: Mapping[str, Any],
        keys: Sequence[str],
        extend: bool,
    ) -> SweepExistsError | None:
        """Why ``name`` cannot be registered with ``spec`` (``None`` when it can)."""
        row = conn.execute("SELECT spec FROM sweeps WHERE name = ?", (name,)).fetchone()
        if row is None or _unnamed(json.loads(row[0])) == _unnamed(spec):
            return None
        listed = conn.execute("SELECT key FROM sweep_runs WHERE sweep = ?", (name,))
        dropped = len({r[0] for r in listed} - set(keys))
        if extend and not dropped:
            return None
        return SweepExistsError(name, self._path, json.loads(row[0]), dict(spec), dropped=dropped)

    def sweeps(self) -> list[SweepInfo]:
        """Every sweep with its run counts, oldest first."""
        with self._read("listing sweeps") as conn:
            return self._sweep_infos(conn, None)

    def sweep_info(self, name: str) -> SweepInfo:
        """One sweep's entry.

        Raises:
            SweepNotFoundError: naming the sweeps the store holds.
        """
        with self._read(f"reading sweep {name!r}") as conn:
            found = self._sweep_infos(conn, name)
            if not found:
                raise self._not_found(conn, name)
            return found[0]

    def _sweep_infos(self, conn: sqlite3.Connection, name: str | None) -> list[SweepInfo]:
        where = "" if name is None else "WHERE s.name = ?"
        sweeps = conn.execute(
            f"SELECT name, spec, created, updated, version FROM sweeps s {where} "
            "ORDER BY created, name",
            () if name is None else (name,),
        ).fetchall()
        counts = {row[0]: dict.fromkeys(RUN_STATUSES, 0) for row in sweeps}
        for sweep, status, count in conn.execute(
            "SELECT sr.sweep, r.status, count(*) FROM sweep_runs sr JOIN runs r ON r.key = sr.key "
            f"{'' if name is None else 'WHERE sr.sweep = ?'} GROUP BY sr.sweep, r.status",
            () if name is None else (name,),
        ):
            if sweep in counts:
                counts[sweep][status] = count
        return [
            SweepInfo(
                name=row[0],
                spec=json.loads(row[1]),
                created=row[2],
                updated=row[3],
                version=row[4],
                counts=counts[row[0]],
            )
            for row in sweeps
        ]

    def _not_found(self, conn: sqlite3.Connection, name: str) -> SweepNotFoundError:
        names = tuple(row[0] for row in conn.execute("SELECT name FROM sweeps ORDER BY created"))
        return SweepNotFoundError(name, self._path, names)

    def remove_sweep(self, name: str) -> int:
        """Delete a sweep, and the runs (with curves) that no other sweep uses.

        Returns:
            How many runs were deleted.

        Raises:
            SweepNotFoundError: when there is no such sweep.
        """
        with self._write(f"removing sweep {name!r}") as conn:
            if conn.execute("SELECT 1 FROM sweeps WHERE name = ?", (name,)).fetchone() is None:
                raise self._not_found(conn, name)
            mine = [row[0] for row in conn.execute(
                "SELECT key FROM sweep_runs WHERE sweep = ?", (name,)
            )]  # fmt: skip
            conn.execute("DELETE FROM sweeps WHERE name = ?", (name,))
            # Only this sweep's runs that no other sweep uses: never runs a user did not name.
            gone = 0
            for key in mine:
                gone += conn.execute(
                    "DELETE FROM runs WHERE key = ? AND status != 'running' "
                    "AND key NOT IN (SELECT key FROM sweep_runs)",
                    (key,),
                ).rowcount
            return gone

    # -- runs --------------------------------------------------------------------------------

    def runs(self, name: str, *, curves: bool = True) -> list[StoredRun]:
        """A sweep's runs, in its order, from one consistent snapshot.

        Args:
            name: the sweep.
            curves: also read the per-epoch curves of finished runs.

        Raises:
            SweepNotFoundError: when there is no such sweep.
        """
        with self._read(f"reading sweep {name!r}") as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM sweep_runs sr JOIN runs r ON r.key = sr.key "
                "WHERE sr.sweep = ? ORDER BY sr.position",
                (name,),
            ).fetchall()
            if (
                not rows
                and conn.execute("SELECT 1 FROM sweeps WHERE name = ?", (name,)).fetchone() is None
            ):
                raise self._not_found(conn, name)
            by_key: dict[str, Curve] = {}
            if curves:
                by_key = self._curves(
                    conn,
                    "SELECT c.key, c.epoch, c.step, c.samples, c.seconds, c.valid_loss, "
                    "c.train_loss, c.lr FROM curves c JOIN sweep_runs sr ON sr.key = c.key "
                    "WHERE sr.sweep = ? ORDER BY c.key, c.epoch",
                    (name,),
                )
        return [self._stored_run(row, by_key.get(row[1])) for row in rows]

    @staticmethod
    def _curves(conn: sqlite3.Connection, query: str, args: Sequence[Any]) -> dict[str, Curve]:
        columns: dict[str, list[list[Any]]] = {}
        for key, *values in conn.execute(query, args):
            table = columns.setdefault(key, [[] for _ in range(7)])
            for column, value in zip(table, values, strict=True):
                column.append(value)
        for table in columns.values():  # a curve stored before lrs were recorded has none
            if None in table[-1]:
                table[-1] = []
        return {
            key: Curve.from_dict(
                dict(
                    zip(
                        ("epoch", "step", "samples", "seconds", "valid_loss", "train_loss", "lr"),
                        table,
                        strict=True,
                    )
                )
            )
            for key, table in columns.items()
        }

    @staticmethod
    def _stored_run(row: Sequence[Any], curve: Curve | None) -> StoredRun:
        (position, key, labels, config, status, starts, created, started, finished, engine,
         diverged_epoch, error) = row  # fmt: skip
        finished_status = status in ("done", "diverged", "error")
        return StoredRun(
            position=position,
            key=key,
            config=RunConfig.from_dict(json.loads(config)),
            labels=json.loads(labels),
            status=status,
            starts=starts,
            created=created,
            started=started,
            finished=finished,
            engine=engine,
            diverged_epoch=diverged_epoch,
            error=error,
            curve=(curve if curve is not None else Curve()) if finished_status else None,
        )

    def statuses(self, keys: Sequence[str]) -> dict[str, RunStatus]:
        """The status of each key that is stored (missing keys are left out)."""
        found: dict[str, RunStatus] = {}
        with self._read("reading run statuses") as conn:
            for first in range(0, len(keys), _CHUNK):
                chunk = list(keys[first : first + _CHUNK])
                marks = ", ".join("?" * len(chunk))
                for key, status in conn.execute(
                    f"SELECT key, status FROM runs WHERE key IN ({marks})", chunk
                ):
                    found[key] = status
        return found

    def recover_stale(self, *, force: bool = False) -> list[str]:
        """Put ``running`` rows whose runner is gone back to ``pending``.

        A runner that was killed (SIGKILL, power loss) leaves its rows ``running``. A row
        counts as stale when its owner process on this host no longer exists; rows held by
        a live process, or by another host, are left alone unless ``force``.

        Args:
            force: recover every ``running`` row (use only when no other sweep is running).

        Returns:
            The recovered keys.
        """
        with self._read("looking for interrupted runs") as conn:
            held = conn.execute("SELECT key, worker FROM runs WHERE status = 'running'").fetchall()
        stale = [(key, worker) for key, worker in held if force or not worker or
                 owner_alive(worker) is False]  # fmt: skip
        if not stale:
            return []
        recovered = []
        with self._write("recovering interrupted runs") as conn:
            for key, worker in stale:
                cursor = conn.execute(
                    "UPDATE runs SET status = 'pending', worker = NULL "
                    "WHERE key = ? AND status = 'running' AND worker IS ?",
                    (key, worker),
                )
                if cursor.rowcount:
                    recovered.append(key)
        return recovered

    def claim(self, keys: Sequence[str], owner: str) -> list[str]:
        """Mark runs as being trained by ``owner`` (and count the start).

        Only ``pending`` and ``error`` runs are claimed; ``done`` and ``diverged`` runs are
        final, and ``running`` ones belong to another runner.

        Returns:
            The keys claimed, in the order given.
        """
        now = time.time()
        claimed = []
        with self._write("marking runs as running") as conn:
            for key in keys:
                cursor = conn.execute(
                    "UPDATE runs SET status = 'running', worker = ?, started = ?, "
                    "starts = starts + 1, error = NULL "
                    "WHERE key = ? AND status IN ('pending', 'error')",
                    (owner, now, key),
                )
                if cursor.rowcount:
                    claimed.append(key)
        return claimed

    def release(self, keys: Sequence[str] | None, owner: str) -> None:
        """Put runs that ``owner`` still holds back to ``pending`` (after an interruption).

        Args:
            keys: the runs to give back; ``None`` for every run ``owner`` holds.
            owner: the runner that claimed them.
        """
        with self._write("releasing unfinished runs") as conn:
            if keys is None:
                conn.execute(
                    "UPDATE runs SET status = 'pending', worker = NULL "
                    "WHERE status = 'running' AND worker = ?",
                    (owner,),
                )
                return
            conn.executemany(
                "UPDATE runs SET status = 'pending', worker = NULL "
                "WHERE key = ? AND status = 'running' AND worker = ?",
                [(key, owner) for key in keys],
            )

    def put_record(self, record: RunRecord) -> None:
        """Store a finished run: its status and every epoch of its curve, atomically.

        A run that was never registered is added; a stored curve for the same key is replaced.
        """
        key = record.config.key()
        now = time.time()
        curve = record.curve
        lrs: Sequence[float | None] = curve.lr or [None] * len(curve)
        points = [
            (key, e, s, n, sec, _float_or_none(v), _float_or_none(t), lr)
            for e, s, n, sec, v, t, lr in zip(
                curve.epoch,
                curve.step,
                curve.samples,
                curve.seconds,
                curve.valid_loss,
                curve.train_loss,
                lrs,
                strict=True,
            )
        ]
        with self._write(f"saving run {key}") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO runs (key, config, status, created) "
                "VALUES (?, ?, 'pending', ?)",
                (key, record.config.to_json(), now),
            )
            conn.execute("DELETE FROM curves WHERE key = ?", (key,))
            conn.execute("DELETE FROM checkpoints WHERE key = ?", (key,))  # (it is final now)
            conn.executemany(
                "INSERT INTO curves "
                "(key, epoch, step, samples, seconds, valid_loss, train_loss, lr) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                points,
            )
            conn.execute(
                "UPDATE runs SET status = ?, finished = ?, worker = NULL, engine = ?, "
                "diverged_epoch = ?, error = ? WHERE key = ?",
                (record.status, now, record.engine, record.diverged_epoch, record.error, key),
            )

    # -- checkpoints -------------------------------------------------------------------------

    def put_checkpoints(self, checkpoints: Sequence[SavedCheckpoint]) -> int:
        """Store the latest training state of running configs, in one transaction.

        Each replaces the config's previous checkpoint. One for a config that is no longer
        ``running`` (finished meanwhile, or given back) is dropped: a finished run needs none.

        Returns:
            How many were stored.
        """
        now = time.time()
        with self._write("saving checkpoints") as conn:
            stored = 0
            for c in checkpoints:
                cursor = conn.execute(
                    "INSERT INTO checkpoints (key, epoch, engine, data, saved) "
                    "SELECT ?, ?, ?, ?, ? WHERE EXISTS "
                    "(SELECT 1 FROM runs WHERE key = ? AND status = 'running') "
                    "ON CONFLICT (key) DO UPDATE SET epoch = excluded.epoch, "
                    "engine = excluded.engine, data = excluded.data, saved = excluded.saved",
                    (c.key, c.epoch, c.engine, c.data, now, c.key),
                )
                stored += cursor.rowcount
            return stored

    def checkpoints(self, keys: Sequence[str]) -> dict[str, SavedCheckpoint]:
        """The stored checkpoint of each of these keys that has one."""
        found: dict[str, SavedCheckpoint] = {}
        with self._read("reading checkpoints") as conn:
            for first in range(0, len(keys), _CHUNK):
                chunk = list(keys[first : first + _CHUNK])
                marks = ", ".join("?" * len(chunk))
                for key, epoch, engine, data in conn.execute(
                    f"SELECT key, epoch, engine, data FROM checkpoints WHERE key IN ({marks})",
                    chunk,
                ):
                    found[key] = SavedCheckpoint(key, epoch, engine, bytes(data))
        return found

    def checkpoint_epochs(self, name: str) -> dict[str, int]:
        """By key, the epoch of each of a sweep's runs that has a checkpoint (runs partly
        trained: ``running`` now, or ``pending`` after an interruption)."""
        with self._read(f"reading sweep {name!r}") as conn:
            return dict(
                conn.execute(
                    "SELECT c.key, c.epoch FROM checkpoints c "
                    "JOIN sweep_runs sr ON sr.key = c.key WHERE sr.sweep = ?",
                    (name,),
                ).fetchall()
            )

    def delete_checkpoints(self, keys: Sequence[str]) -> None:
        """Forget these runs' checkpoints (they train from the start next time)."""
        with self._write("deleting checkpoints") as conn:
            conn.executemany("DELETE FROM checkpoints WHERE key = ?", [(k,) for k in keys])

    # -- health ------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Integrity problems: damaged pages, broken references, half-written runs.

        Returns:
            One text per problem; empty when the store is sound.
        """
        problems: list[str] = []
        with self._read("checking it") as conn:
            found = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if found != ["ok"]:
                problems += [f"damaged: {text}" for text in found[:10]]
                return problems
            if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                problems.append("some rows refer to runs or sweeps that do not exist")
            missing = conn.execute(
                "SELECT count(*) FROM runs r WHERE r.status IN ('done', 'diverged') "
                "AND NOT EXISTS (SELECT 1 FROM curves c WHERE c.key = r.key)"
            ).fetchone()[0]
            if missing:
                problems.append(f"{missing} finished runs have no curve")
            loose = conn.execute(
                "SELECT count(DISTINCT c.key) FROM curves c JOIN runs r ON r.key = c.key "
                "WHERE r.status IN ('pending', 'running')"
            ).fetchone()[0]
            if loose:
                problems.append(f"{loose} unfinished runs have curve rows")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if not set(TABLES) <= tables:
                problems.append(f"tables missing: {', '.join(sorted(set(TABLES) - tables))}")
        return problems

    def running(self) -> list[tuple[str, str | None, list[str]]]:
        """``(key, owner, sweeps)`` of every ``running`` row (for ``optiscope doctor``)."""
        with self._read("reading running runs") as conn:
            rows = conn.execute(
                "SELECT r.key, r.worker, sr.sweep FROM runs r "
                "LEFT JOIN sweep_runs sr ON sr.key = r.key WHERE r.status = 'running' "
                "ORDER BY r.key, sr.sweep"
            ).fetchall()
        found: dict[str, tuple[str | None, list[str]]] = {}
        for key, worker, sweep in rows:
            names = found.setdefault(key, (worker, []))[1]
            if sweep is not None:
                names.append(sweep)
        return [(key, worker, names) for key, (worker, names) in found.items()]

    def journal_mode(self) -> str:
        """The journal mode (``wal`` for a store this module created)."""
        with self._read("reading its journal mode") as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
