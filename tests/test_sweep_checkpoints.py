"""A sweep interrupted mid-training goes on from its stored checkpoints, bit for bit.

The interruption is a store whose checkpoint write raises once a checkpoint of epoch 2 is
committed (as Ctrl-C would at that moment); the sweep is then run again on the same file and
compared with training the same configs without interruption (``==`` on every number but
the wall-clock seconds). Subprocess signals (SIGINT, SIGTERM, SIGKILL) are in
test_reliability.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from optiscope.cli import main
from optiscope.engine import EVERY_EPOCH
from optiscope.errors import DiskFullError, EngineError
from optiscope.records import RunRecord
from optiscope.storage import SavedCheckpoint, SqliteStore
from optiscope.sweeps import SweepSpec, run_configs, run_sweep, start_pool, stop_pool

FIXED = {"epochs": 5, "n": 240, "hidden": (8,)}


def _numbers(record: RunRecord) -> tuple[Any, ...]:
    c = record.curve
    return (record.status, record.diverged_epoch, c.epoch, c.step, c.samples,
            c.valid_loss, c.train_loss)  # fmt: skip


class _StopsAt(SqliteStore):
    """A store that raises ``error`` right after committing a checkpoint of ``epoch``."""

    def __init__(self, path: Path, epoch: int, error: BaseException) -> None:
        super().__init__(path)
        self.epoch, self.error = epoch, error

    def put_checkpoints(self, checkpoints: Sequence[SavedCheckpoint]) -> int:
        stored = super().put_checkpoints(checkpoints)
        if any(c.epoch >= self.epoch for c in checkpoints):
            raise self.error
        return stored


@pytest.fixture
def _pool() -> Any:
    start_pool(2)  # warm, so a worker takes a task while this process trains the other
    yield
    stop_pool()


CASES = {
    "vectorized-in-process": ("vectorized", 1),
    "reference-in-process": ("reference", 1),
    "vectorized-pool": ("vectorized", 2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_interrupted_sweep_goes_on_from_its_checkpoints(
    case: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine, workers = CASES[case]
    if workers > 1:
        request.getfixturevalue("_pool")
    # Two batch sizes: two lockstep groups, so the pool trains one in a worker.
    spec = SweepSpec(grid={"lr": [0.03, 0.003], "batch_size": [16, 32]}, fixed=FIXED, seeds=2)
    path = tmp_path / "results.sqlite"
    options: dict[str, Any] = {"engine": engine, "workers": workers, "checkpoints": EVERY_EPOCH}
    with _StopsAt(path, 2, KeyboardInterrupt()) as stopping, pytest.raises(KeyboardInterrupt):
        run_sweep(spec, store=stopping, **options)
    keys = [p.config.key() for p in spec.expand()]
    with SqliteStore(path) as store:
        saved = store.checkpoints(keys)
        statuses = store.statuses(keys)
        assert max(c.epoch for c in saved.values()) == 2  # what was trained is kept
        assert {statuses[k] for k in saved} == {"pending"}  # given back, with their state
        assert set(statuses.values()) <= {"pending", "done"}
        assert store.check() == []
        run = run_sweep(spec, store=store, **options)
        assert run.resumed == len(saved) and run.trained + run.skipped == len(keys)
        assert store.checkpoints(keys) == {}  # gone with the final records
        stored = store.runs(run.name)
    uninterrupted = run_configs([p.config for p in spec.expand()], workers=1)
    assert [_numbers(r.record) for r in stored if r.record] == [_numbers(r) for r in uninterrupted]
    assert {r.starts for r in stored if r.key in saved} == {2}


def test_a_failed_training_leaves_no_checkpoint(tmp_path: Path) -> None:
    spec = SweepSpec(grid={"lr": [0.03, 0.003]}, fixed=FIXED)
    path = tmp_path / "results.sqlite"
    with _StopsAt(path, 2, RuntimeError("boom")) as failing, pytest.raises(EngineError):
        run_sweep(spec, store=failing, workers=1, checkpoints=EVERY_EPOCH)
    with SqliteStore(path) as store:
        keys = [p.config.key() for p in spec.expand()]
        assert store.checkpoints(keys) == {}
        assert set(store.statuses(keys).values()) == {"pending"}


def test_diverged_and_finished_configs_keep_no_checkpoint(tmp_path: Path) -> None:
    spec = SweepSpec(grid={"lr": [1e6, 0.01]}, fixed=FIXED)
    with SqliteStore(tmp_path / "results.sqlite") as store:
        run = run_sweep(spec, store=store, workers=1, checkpoints=EVERY_EPOCH)
        runs = store.runs(run.name)
        assert [r.status for r in runs] == ["diverged", "done"]
        assert store.checkpoints([r.key for r in runs]) == {}


def test_without_checkpoints_an_interrupted_config_starts_over(tmp_path: Path) -> None:
    spec = SweepSpec(grid={"lr": [0.03]}, fixed=FIXED)
    path = tmp_path / "results.sqlite"
    with _StopsAt(path, 2, KeyboardInterrupt()) as stopping, pytest.raises(KeyboardInterrupt):
        run_sweep(spec, store=stopping, workers=1, checkpoints=EVERY_EPOCH)
    with SqliteStore(path) as store:
        run = run_sweep(spec, store=store, workers=1, checkpoints=None)
        assert run.resumed == 0 and run.trained == 1


def test_runs_list_shows_partly_trained_configs_with_their_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SweepSpec(grid={"lr": [0.03, 0.003]}, fixed=FIXED, name="half")
    path = tmp_path / "results.sqlite"
    with _StopsAt(path, 3, KeyboardInterrupt()) as stopping, pytest.raises(KeyboardInterrupt):
        run_sweep(spec, store=stopping, workers=1, checkpoints=EVERY_EPOCH)
    for args in (
        ["runs", "list", "--store", str(path)],
        ["runs", "list", "--json", "--store", str(path)],
    ):
        main(args)  # (returns: the command ran without an error)
    text, data = capsys.readouterr().out.split("{", 1)
    header, row = text.strip().splitlines()
    assert header.split()[-3] == "partial" and "2 (epoch 3)" in row
    (listed,) = json.loads("{" + data)["sweeps"]
    assert (listed["partial"], listed["partial_epochs"], listed["pending"]) == (2, [3, 3], 2)


class _FullAfter(SqliteStore):
    """A store whose disk fills up for checkpoints once one of ``epoch`` is stored."""

    def __init__(self, path: Path, epoch: int) -> None:
        super().__init__(path)
        self.epoch, self.refused = epoch, 0

    def put_checkpoints(self, checkpoints: Sequence[SavedCheckpoint]) -> int:
        if any(c.epoch > self.epoch for c in checkpoints):
            self.refused += 1
            raise DiskFullError(self.path, "saving checkpoints")
        return super().put_checkpoints(checkpoints)


def test_a_full_disk_for_a_checkpoint_does_not_stop_the_training(tmp_path: Path) -> None:
    """A checkpoint write that fills the disk (sqlite's write-ahead log grows with each
    one) aborted the sweep before any config finished, where the records alone would have
    fit; checkpoints are insurance, so they stop and training goes on to its records."""
    spec = SweepSpec(grid={"lr": [0.03, 0.003]}, fixed=FIXED, seeds=2)
    with _FullAfter(tmp_path / "results.sqlite", 1) as store:
        run = run_sweep(spec, store=store, workers=1, checkpoints=EVERY_EPOCH)
        assert store.refused == 1  # no further tries once the disk was found full
        stored = store.runs(run.name)
        assert store.checkpoints([r.key for r in stored]) == {}  # gone with the records
    assert run.trained == spec.size
    uninterrupted = run_configs([p.config for p in spec.expand()], workers=1)
    assert [_numbers(r.record) for r in stored if r.record] == [_numbers(r) for r in uninterrupted]


def test_runs_show_shows_partly_trained_configs_with_their_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SweepSpec(grid={"lr": [0.03, 0.003]}, fixed=FIXED, name="half")
    path = tmp_path / "results.sqlite"
    with _StopsAt(path, 3, KeyboardInterrupt()) as stopping, pytest.raises(KeyboardInterrupt):
        run_sweep(spec, store=stopping, workers=1, checkpoints=EVERY_EPOCH)
    main(["runs", "show", "half", "--store", str(path)])
    text = capsys.readouterr().out
    assert text.splitlines()[1].endswith("2 pending; partly trained: 2 (epoch 3)")
    main(["runs", "show", "half", "--json", "--store", str(path)])
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["checkpoint_epoch"] for r in runs] == [3, 3]
