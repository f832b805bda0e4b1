"""What the web lab's watcher asks the store: has anything been committed, and what changed."""

from __future__ import annotations

from pathlib import Path

import web_data
from optiscope.storage import SavedCheckpoint, SqliteStore, new_owner, release_owner


def test_data_version_moves_only_when_another_connection_commits(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    (entry,) = web_data.make_store(path, lrs=(0.01,), seeds=1, finished=False)
    key = entry.config.key()
    with SqliteStore(path) as watcher, SqliteStore(path) as writer:
        first = watcher.data_version()
        assert watcher.data_version() == first  # asking changes nothing
        assert watcher.activity() == {"demo": {0: (key, "pending", 0)}}
        owner = new_owner()
        writer.claim([key], owner)
        assert watcher.data_version() != first
        second = watcher.data_version()
        writer.put_checkpoints([SavedCheckpoint(key, 3, "reference", b"state")])
        assert watcher.data_version() != second
        assert watcher.activity() == {"demo": {0: (key, "running", 3)}}
        release_owner(owner)


def test_curves_of_finished_runs_by_key(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    entries = web_data.make_store(path, lrs=(0.01, 0.1), seeds=1)
    keys = [e.config.key() for e in entries]
    with SqliteStore(path) as store:
        curves = store.curves([*keys, "no-such-key"])
    assert set(curves) == set(keys)
    assert curves[keys[1]] == web_data.curve(0.1, 0)
