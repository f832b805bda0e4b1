"""The sqlite schema of the results store (documented in docs/sweeps.md)."""

from __future__ import annotations

__all__ = ["CHECKPOINTS", "CURVE_LR", "MIGRATIONS", "SCHEMA", "SCHEMA_VERSION", "TABLES"]

#: Bump with a migration in ``_sqlite.py`` when a table changes.
SCHEMA_VERSION = 3

TABLES: tuple[str, ...] = ("meta", "sweeps", "runs", "sweep_runs", "curves", "checkpoints")

CHECKPOINTS = """CREATE TABLE IF NOT EXISTS checkpoints (
        key TEXT PRIMARY KEY REFERENCES runs(key) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,    -- epochs trained
        engine TEXT NOT NULL,      -- the engine that wrote it (and can resume from it)
        data BLOB NOT NULL,        -- the engine's encoding: parameters, optimizer, curve so far
        saved REAL NOT NULL        -- unix time
    ) WITHOUT ROWID"""
"""A running config's latest training state (schema 2): written at epoch ends, deleted with
its final record. Schema 1 stores gain the table when opened (see ``MIGRATIONS``)."""

CURVE_LR = "ALTER TABLE curves ADD COLUMN lr REAL"
"""The lr of each epoch's last optimizer step (schema 3); NULL in curves stored before it."""

MIGRATIONS: dict[int, tuple[str, ...]] = {1: (CHECKPOINTS,), 2: (CURVE_LR,)}
"""By schema version: the statements that bring a store of that version to the next."""

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS sweeps (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,        -- the SweepSpec as JSON
        created REAL NOT NULL,     -- unix time
        updated REAL NOT NULL,
        version TEXT NOT NULL      -- optiscope version that last registered it
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        key TEXT PRIMARY KEY,      -- RunConfig.key(): everything that changes the result
        config TEXT NOT NULL,      -- RunConfig as canonical JSON
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'running', 'done', 'diverged', 'error')),
        starts INTEGER NOT NULL DEFAULT 0,  -- attempts: times a runner took it on
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        worker TEXT,               -- owner of a 'running' row: host:pid:start:nonce
        engine TEXT,
        diverged_epoch INTEGER,
        error TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS sweep_runs (
        sweep TEXT NOT NULL REFERENCES sweeps(name) ON DELETE CASCADE,
        position INTEGER NOT NULL, -- config number - 1
        key TEXT NOT NULL REFERENCES runs(key),
        labels TEXT NOT NULL,      -- JSON: swept settings and seed of this config
        PRIMARY KEY (sweep, position),
        UNIQUE (sweep, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS sweep_runs_by_key ON sweep_runs(key)",
    """CREATE TABLE IF NOT EXISTS curves (
        key TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        step INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        seconds REAL NOT NULL,
        valid_loss REAL,           -- NULL where the loss was NaN (sqlite keeps no NaN)
        train_loss REAL,
        lr REAL,                   -- lr of the epoch's last step; NULL before schema 3
        PRIMARY KEY (key, epoch)
    ) WITHOUT ROWID""",
    CHECKPOINTS,
)
