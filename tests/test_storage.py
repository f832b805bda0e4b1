"""The results store: one contract suite for every store, run here against SqliteStore.

A new store (a server database for the cluster engine, say) subclasses :class:`StoreContract`
and provides ``make_store``; every test below then runs against it too.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optiscope.cli._advice import remedy_advice
from optiscope.errors import NotAStoreError, StorageError, SweepExistsError, SweepNotFoundError
from optiscope.records import Curve, DataSpec, RunConfig, RunRecord
from optiscope.storage import (
    SCHEMA_VERSION,
    ResultStore,
    SavedCheckpoint,
    SqliteStore,
    SweepEntry,
    diagnose,
    new_owner,
    owner_alive,
    release_owner,
)

ROOT = Path(__file__).resolve().parents[1]


def _config(lr: float, seed: int = 0) -> RunConfig:
    return RunConfig(hparams={"lr": lr}, epochs=3, seed=seed, data=DataSpec(n=200))


def _record(config: RunConfig, status: str = "done", losses: tuple[float, ...] = ()) -> RunRecord:
    losses = losses or (3.0, 2.0, 1.5)
    epochs = len(losses)
    curve = Curve(
        epoch=tuple(range(1, epochs + 1)),
        step=tuple(9 * e for e in range(1, epochs + 1)),
        samples=tuple(140 * e for e in range(1, epochs + 1)),
        seconds=tuple(0.01 * e for e in range(1, epochs + 1)),
        valid_loss=losses,
        train_loss=tuple(2 * v for v in losses),
    )
    diverged = epochs if status == "diverged" else None
    return RunRecord(config, curve, status=status, diverged_epoch=diverged)  # type: ignore[arg-type]


def _entries(*lrs: float, seeds: tuple[int, ...] = (0,)) -> list[SweepEntry]:
    return [
        SweepEntry(_config(lr, seed), {"settings": {"lr": lr}, "seed": seed, "label": f"lr = {lr}"})
        for lr in lrs
        for seed in seeds
    ]


def _dead_owner() -> str:
    """An owner text whose process has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return f"{socket.gethostname()}:{int(done.stdout)}::deadbeef"


class StoreContract:
    """Behaviour every results store must have."""

    def make_store(self, path: Path) -> ResultStore:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ResultStore]:
        store = self.make_store(tmp_path / "results.sqlite")
        yield store
        store.close()

    def test_a_fresh_store_is_empty_and_names_what_it_lacks(self, store: ResultStore) -> None:
        assert store.sweeps() == []
        with pytest.raises(SweepNotFoundError, match=r"no sweep named 'nope'.*holds no sweeps"):
            store.sweep_info("nope")
        assert store.check() == []

    def test_registering_a_sweep_adds_pending_runs_in_order(self, store: ResultStore) -> None:
        entries = _entries(0.1, 0.01, seeds=(0, 1))
        store.save_sweep("s", {"grid": {"lr": [0.1, 0.01]}}, entries)
        info = store.sweep_info("s")
        assert info.spec == {"grid": {"lr": [0.1, 0.01]}}
        assert info.total == 4 and info.counts["pending"] == 4 and info.finished == 0
        runs = store.runs("s")
        assert [r.key for r in runs] == [e.config.key() for e in entries]
        assert [r.position for r in runs] == [0, 1, 2, 3]
        assert [r.config for r in runs] == [e.config for e in entries]
        assert runs[1].labels == {"settings": {"lr": 0.1}, "seed": 1, "label": "lr = 0.1"}
        assert all(r.status == "pending" and r.starts == 0 and r.record is None for r in runs)

    def test_a_record_round_trips_with_its_curve(self, store: ResultStore) -> None:
        entries = _entries(0.1)
        store.save_sweep("s", {}, entries)
        record = _record(entries[0].config)
        store.put_record(record)
        (run,) = store.runs("s")
        assert run.status == "done"
        assert run.created is not None and run.finished is not None
        assert run.finished >= run.created  # unix times: finished after the sweep was saved
        assert run.record == record

    def test_diverged_runs_keep_their_status_and_nan_and_inf(self, store: ResultStore) -> None:
        entries = _entries(0.1, 0.01)
        store.save_sweep("s", {}, entries)
        nan_run = _record(entries[0].config, "diverged", (3.0, math.nan))
        inf_run = _record(entries[1].config, "diverged", (3.0, 2.0, math.inf))
        store.put_record(nan_run)
        store.put_record(inf_run)
        first, second = store.runs("s")
        assert first.status == "diverged" and first.diverged_epoch == 2
        assert first.curve is not None and math.isnan(first.curve.valid_loss[-1])
        assert second.curve is not None and second.curve.valid_loss[-1] == math.inf
        assert store.sweep_info("s").counts["diverged"] == 2

    def test_claim_counts_starts_and_takes_only_pending_or_error(self, store: ResultStore) -> None:
        entries = _entries(0.1, 0.01, 0.001)
        keys = [e.config.key() for e in entries]
        store.save_sweep("s", {}, entries)
        store.put_record(_record(entries[0].config))
        owner = new_owner()
        try:
            assert store.claim(keys, owner) == keys[1:]
            assert store.claim(keys, owner) == []  # already running
            runs = store.runs("s")
            assert [r.status for r in runs] == ["done", "running", "running"]
            assert [r.starts for r in runs] == [0, 1, 1]
            store.release([keys[1]], "someone-else")
            assert store.statuses([keys[1]]) == {keys[1]: "running"}
            store.release(keys[1:], owner)
            expected = ["done", "pending", "pending"]
            assert store.statuses(keys) == dict(zip(keys, expected, strict=True))
            assert store.claim(keys[1:2], owner) == keys[1:2]
            assert store.runs("s")[1].starts == 2
        finally:
            release_owner(owner)

    def test_error_runs_are_claimed_again(self, store: ResultStore) -> None:
        entries = _entries(0.1)
        store.save_sweep("s", {}, entries)
        failed = RunRecord(entries[0].config, Curve(), status="error", error="boom")
        store.put_record(failed)
        assert store.runs("s")[0].error == "boom"
        owner = new_owner()
        try:
            assert store.claim([entries[0].config.key()], owner) == [entries[0].config.key()]
        finally:
            release_owner(owner)
        assert store.runs("s")[0].error is None

    def test_stale_rows_of_dead_or_finished_runners_are_recovered(self, store: ResultStore) -> None:
        entries = _entries(0.1, 0.01, 0.001, 0.0001)
        keys = [e.config.key() for e in entries]
        store.save_sweep("s", {}, entries)
        live, finished = new_owner(), new_owner()
        elsewhere = "another-host.example:1234:99:cafe"
        try:
            store.claim(keys[:1], _dead_owner())
            store.claim(keys[1:2], live)
            store.claim(keys[2:3], finished)
            store.claim(keys[3:], elsewhere)
            release_owner(finished)  # a runner of this process that ended without cleaning up
            assert sorted(store.recover_stale()) == sorted([keys[0], keys[2]])
            assert store.statuses(keys) == dict(
                zip(keys, ["pending", "running", "pending", "running"], strict=True)
            )
            assert store.recover_stale(force=True) == [k for k in keys if k in (keys[1], keys[3])]
        finally:
            release_owner(live)

    def test_reusing_a_sweep_name_silently_replaces_the_sweep_is_refused(
        self, store: ResultStore
    ) -> None:
        store.save_sweep("s", {"v": 1}, _entries(0.1, 0.01))
        store.put_record(_record(_config(0.1)))
        before = store.runs("s")
        with pytest.raises(SweepExistsError, match="already has a sweep named 's'") as caught:
            store.save_sweep("s", {"v": 2}, _entries(0.5))
        assert (caught.value.name, caught.value.stored, caught.value.given) == (
            "s", {"v": 1}, {"v": 2},
        )  # fmt: skip
        assert store.sweep_info("s").spec == {"v": 1} and store.runs("s") == before
        store.save_sweep("s", {"v": 1}, _entries(0.1, 0.01))  # the same spec continues it
        assert [r.status for r in store.runs("s")] == ["done", "pending"]

    def test_removing_a_sweep_deletes_only_runs_of_that_sweep(self, store: ResultStore) -> None:
        store.save_sweep("a", {}, _entries(0.1, 0.01))
        store.save_sweep("b", {}, _entries(0.001))
        for lr in (0.1, 0.01, 0.001):
            store.put_record(_record(_config(lr)))
        assert store.remove_sweep("b") == 1
        assert [r.status for r in store.runs("a")] == ["done", "done"]

    def test_runs_are_shared_across_sweeps_and_removed_with_the_last(
        self, store: ResultStore
    ) -> None:
        store.save_sweep("a", {}, _entries(0.1, 0.01))
        store.save_sweep("b", {}, _entries(0.01, 0.001))
        store.put_record(_record(_config(0.01)))
        assert store.sweep_info("b").counts["done"] == 1  # trained once, seen by both
        assert store.remove_sweep("a") == 1  # lr 0.1 only; lr 0.01 is still used by b
        assert [info.name for info in store.sweeps()] == ["b"]
        assert [r.status for r in store.runs("b")] == ["done", "pending"]
        with pytest.raises(SweepNotFoundError, match="it holds: b"):
            store.remove_sweep("a")
        assert store.check() == []

    def test_storing_a_record_is_atomic(self, store: ResultStore) -> None:
        entries = _entries(0.1)
        store.save_sweep("s", {}, entries)
        store.put_record(_record(entries[0].config))
        before = store.runs("s")
        # Two rows for epoch 1 break the curve's primary key half-way through the insert.
        broken = _record(entries[0].config, losses=(9.0, 8.0))
        broken = RunRecord(
            broken.config,
            Curve(
                epoch=(1, 1),
                step=(1, 2),
                samples=(1, 2),
                seconds=(0.1, 0.2),
                valid_loss=(9.0, 8.0),
                train_loss=(9.0, 8.0),
            ),
        )
        with pytest.raises(StorageError, match=re.escape(str(store.path))):  # names the store
            store.put_record(broken)
        assert store.runs("s") == before
        assert store.check() == []

    def test_checkpoints_are_kept_for_running_runs_and_replaced(self, store: ResultStore) -> None:
        entries = _entries(0.1, 0.01, 0.001)
        keys = [e.config.key() for e in entries]
        store.save_sweep("s", {}, entries)
        owner = new_owner()
        try:
            store.claim(keys[:2], owner)
            saved = [
                SavedCheckpoint(k, 3, "vectorized", bytes([i]) * 5) for i, k in enumerate(keys)
            ]
            assert store.put_checkpoints(saved) == 2  # not the third: it is not running
            store.put_checkpoints([SavedCheckpoint(keys[0], 4, "vectorized", b"\x00later")])
            assert store.checkpoints(keys) == {
                keys[0]: SavedCheckpoint(keys[0], 4, "vectorized", b"\x00later"),
                keys[1]: saved[1],
            }
            assert store.checkpoint_epochs("s") == {keys[0]: 4, keys[1]: 3}
            store.release(None, owner)  # an interrupted runner gives its runs back ...
            assert set(store.checkpoints(keys)) == set(keys[:2])  # ... with their checkpoints
            store.delete_checkpoints(keys[1:2])
            assert set(store.checkpoints(keys)) == {keys[0]}
        finally:
            release_owner(owner)
        assert store.check() == []

    def test_a_final_record_deletes_the_runs_checkpoint(self, store: ResultStore) -> None:
        entries = _entries(0.1, 0.01)
        keys = [e.config.key() for e in entries]
        store.save_sweep("s", {}, entries)
        owner = new_owner()
        try:
            store.claim(keys, owner)
            store.put_checkpoints([SavedCheckpoint(k, 2, "reference", b"state") for k in keys])
            store.put_record(_record(entries[0].config, status="diverged"))
            assert set(store.checkpoints(keys)) == {keys[1]}
            assert store.put_checkpoints([SavedCheckpoint(keys[0], 2, "reference", b"x")]) == 0
            store.release(None, owner)
        finally:
            release_owner(owner)
        store.remove_sweep("s")  # runs go, and their checkpoints with them
        assert store.checkpoints(keys) == {}


class TestInMemoryStore(StoreContract):
    """The store ``compare_configs`` runs its plan on: the same contract, in memory."""

    def make_store(self, path: Path) -> ResultStore:
        return SqliteStore.in_memory()

    def test_it_writes_no_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        with SqliteStore.in_memory() as store:
            store.save_sweep("s", {}, _entries(0.1))
            assert [r.status for r in store.runs("s")] == ["pending"]
        assert list(tmp_path.iterdir()) == []


class TestSqliteStore(StoreContract):
    def make_store(self, path: Path) -> ResultStore:
        return SqliteStore(path)

    def test_runs_rm_of_another_sweep_keeps_runs_no_sweep_lists(self, tmp_path: Path) -> None:
        """Runs that an older optiscope left to no sweep (the name-reuse defect) are not
        deleted by removing some other sweep: nobody named them."""
        path = tmp_path / "s.sqlite"
        with SqliteStore(path) as store:
            store.save_sweep("old", {}, _entries(0.1))
            store.save_sweep("other", {}, _entries(0.01))
            store.put_record(_record(_config(0.1)))
        with sqlite3.connect(path) as conn:  # what the defect left: runs no sweep lists
            conn.execute("DELETE FROM sweeps WHERE name = 'old'")
        conn.close()
        with SqliteStore(path) as store:
            assert store.remove_sweep("other") == 1
            assert store.statuses([_config(0.1).key()]) == {_config(0.1).key(): "done"}

    def test_wal_mode_and_schema_version(self, tmp_path: Path) -> None:
        with SqliteStore(tmp_path / "s.sqlite") as store:
            assert store.journal_mode() == "wal"
        with sqlite3.connect(tmp_path / "s.sqlite") as conn:
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        conn.close()
        assert version == (str(SCHEMA_VERSION),)

    def test_readers_get_a_clear_error_for_a_missing_store(self, tmp_path: Path) -> None:
        path = tmp_path / "nothing.sqlite"
        with pytest.raises(StorageError, match=r"no results store at .*nothing\.sqlite"):
            SqliteStore(path, create=False)
        assert not path.exists()

    def test_an_empty_file_is_not_a_store_for_readers(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.sqlite"
        path.touch()
        with pytest.raises(NotAStoreError, match="not an optiscope results store: the file is"):
            SqliteStore(path, create=False)

    def test_another_sqlite_database_is_left_alone(self, tmp_path: Path) -> None:
        path = tmp_path / "other.sqlite"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER)")
        conn.close()
        with pytest.raises(StorageError, match=r"not an optiscope results store.*invoices"):
            SqliteStore(path)

    def test_a_store_from_a_newer_optiscope_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "new.sqlite"
        SqliteStore(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                         (str(SCHEMA_VERSION + 1),))  # fmt: skip
        conn.close()
        with pytest.raises(StorageError, match="newer optiscope"):
            SqliteStore(path)

    def test_a_schema_1_store_gains_the_checkpoints_table(self, tmp_path: Path) -> None:
        path = tmp_path / "old.sqlite"
        with SqliteStore(path) as store:
            store.save_sweep("s", {}, _entries(0.1))
        with sqlite3.connect(path) as conn:  # as optiscope wrote it before checkpoints
            conn.execute("DROP TABLE checkpoints")
            conn.execute("ALTER TABLE curves DROP COLUMN lr")  # (schema 3's)
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.close()
        with SqliteStore(path, create=False) as store:
            assert store.check() == []
            assert store.checkpoints([e.config.key() for e in _entries(0.1)]) == {}
            assert [r.status for r in store.runs("s")] == ["pending"]
        with sqlite3.connect(path) as conn:
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        conn.close()
        assert version == (str(SCHEMA_VERSION),)

    def test_a_schema_2_store_gains_the_lr_column_and_keeps_its_curves(
        self, tmp_path: Path
    ) -> None:
        """Curves stored before lrs were recorded read back without lrs (not zeros); curves
        stored after the migration keep theirs, value for value."""
        path = tmp_path / "old.sqlite"
        old, new = _entries(0.1, 0.2)
        with SqliteStore(path) as store:
            store.save_sweep("s", {}, [old, new])
            store.put_record(_record(old.config))
        with sqlite3.connect(path) as conn:  # as optiscope wrote it before schema 3
            conn.execute("ALTER TABLE curves DROP COLUMN lr")
            conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        conn.close()
        with SqliteStore(path, create=False) as store:
            assert store.check() == []
            lrs = (0.2, 0.1, 1 / 30)  # (1/30: a double that must come back as it went in)
            record = _record(new.config)
            store.put_record(dataclasses.replace(record, curve=dataclasses.replace(
                record.curve, lr=lrs)))  # fmt: skip
            first, second = store.runs("s")
        assert len(first.curve) == 3 and first.curve.lr == ()
        assert second.curve.lr == lrs

    def test_a_closed_store_says_so(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "s.sqlite")
        store.close()
        store.close()  # idempotent
        with pytest.raises(StorageError, match="was closed"):
            store.sweeps()

    def test_processes_racing_to_create_a_fresh_store_all_succeed(self, tmp_path: Path) -> None:
        # DESIGN.md: 8 processes initialising a fresh file failed 5% of the time without care.
        path = tmp_path / "race.sqlite"
        code = (
            "import sys\n"
            "from optiscope.records import RunConfig\n"
            "from optiscope.storage import SqliteStore, SweepEntry\n"
            "entry = SweepEntry(RunConfig(seed=int(sys.argv[3])))\n"
            "with SqliteStore(sys.argv[1]) as store:\n"
            "    store.save_sweep(sys.argv[2], {}, [entry])\n"
        )
        for attempt in range(3):
            target = path.with_name(f"race{attempt}.sqlite")
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", code, str(target), f"p{i}", str(i)],
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for i in range(8)
            ]
            for proc in procs:
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err
            with SqliteStore(target, create=False) as store:
                assert sorted(info.name for info in store.sweeps()) == [f"p{i}" for i in range(8)]
                assert store.check() == []


def test_owner_liveness() -> None:
    owner = new_owner()
    assert owner_alive(owner) is True
    release_owner(owner)
    assert owner_alive(owner) is False
    assert owner_alive(_dead_owner()) is False
    assert owner_alive("elsewhere.example:1:2:3") is None
    assert owner_alive("garbage") is None
    parent = f"{socket.gethostname()}:{os.getppid()}::x"
    assert owner_alive(parent) is True  # the process that started pytest is alive


def test_the_doctor_names_the_command_that_continues_each_sweep(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with SqliteStore(path) as store:
        crashed, elsewhere = _entries(0.1), _entries(0.01)
        store.save_sweep("crashed", {}, crashed)
        store.save_sweep("far", {}, elsewhere)
        store.claim([crashed[0].config.key()], _dead_owner())
        store.claim([elsewhere[0].config.key()], "another-host.example:1234:99:cafe")
    findings = diagnose(path).findings
    assert [(f.remedy, f.sweeps) for f in findings[1:]] == [
        ("resume", ("crashed",)), ("takeover", ("far",)),
    ]  # fmt: skip
    advice = " ".join(remedy_advice(f.remedy, path, f.sweeps) for f in findings)
    assert f"`optiscope resume crashed --store {path}`" in advice
    assert f"`optiscope resume far --store {path} --force`" in advice
    assert "NAME" not in advice
