"""Issue 10's pipeline defects, each reproduced: huge requests are counted before anything is
expanded, and a data set's default noise is decided in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import run
from optiscope import compare_configs, sweep
from optiscope.data import make_dataset
from optiscope.errors import TooManyConfigsError
from optiscope.records import DataSpec
from optiscope.storage import SqliteStore
from optiscope.sweeps import MAX_CONFIGS, SweepSpec, plan


@pytest.fixture
def no_expanding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expanding a spec fails the test: a refusal must come from counting alone."""

    def expand(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the spec was expanded")

    monkeypatch.setattr(SweepSpec, "expand", expand)


def _values(count: int) -> str:
    return ",".join(f"{0.001 * (i + 1):g}" for i in range(count))


def test_huge_requests_hang_a_ten_million_config_sweep_is_refused_from_its_count(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_expanding: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--lr", _values(100), "--weight-decay", _values(100), "--seeds", "1000"]
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    assert f"this sweep has 10,000,000 configs, more than {MAX_CONFIGS:,}; add --yes" in err
    assert err.count("\n") == 1
    assert not (tmp_path / ".optiscope").exists()


def test_huge_requests_hang_the_python_api_counts_first_too(no_expanding: None) -> None:
    spec = SweepSpec(grid={"lr": [0.1 * (i + 1) for i in range(1000)]}, seeds=MAX_CONFIGS)
    with pytest.raises(TooManyConfigsError, match="100,000,000 configs") as caught:
        plan(spec)
    assert (caught.value.size, caught.value.cap) == (100_000_000, MAX_CONFIGS)
    with pytest.raises(TooManyConfigsError):
        sweep(lr=[0.1, 0.01], seeds=MAX_CONFIGS, store=Path("never-created.sqlite"))
    assert not Path("never-created.sqlite").exists()


def test_huge_requests_hang_an_absurd_epoch_count_prints_the_estimate_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["sweep", "--lr", "0.1,0.01", "--epochs", "10000000"], capsys)
    assert code == 2
    assert "2 to train (about " in err and " h on one core)" in err  # the size line, first
    assert "would train 2 configs for an estimated " in err and "add --yes to run it" in err
    assert not list(tmp_path.glob("*.png"))
    code, _, err = run(["compare", "--lr", "0.1,0.01", "--epochs", "10000000"], capsys)
    assert code == 2 and " h on one core; add --yes" in err
    assert not list(tmp_path.glob("*.png"))


def test_huge_requests_hang_a_dry_run_of_a_large_sweep_shows_the_estimate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["sweep", "--lr", "0.1,0.01", "--seeds", "3", "--dry-run"], capsys)
    assert code == 0 and len(out.splitlines()) == 6
    assert "6 to train (about " in err and "on one core)" in err


def test_same_dataset_name_different_data_is_fixed_friedman1_has_its_own_noise() -> None:
    by_spec = compare_configs(epochs=1, lr=[0.1, 0.01], data=DataSpec(name="friedman1", n=200))
    by_name = compare_configs(epochs=1, lr=[0.1, 0.01], data={"dataset": "friedman1", "n": 200})
    assert by_spec.records[0].config.data.sd == 1.0  # stored resolved, not None
    assert [r.config.key() for r in by_spec.records] == [r.config.key() for r in by_name.records]
    for a, b in zip(by_spec.records, by_name.records, strict=True):
        assert (a.curve.valid_loss, a.curve.train_loss) == (b.curve.valid_loss, b.curve.train_loss)
    with SqliteStore.in_memory() as store:
        swept = sweep(lr=[0.1, 0.01], dataset="friedman1", n=200, epochs=1, store=store)
        assert {r.config.key() for r in swept.records} == {r.config.key() for r in by_spec.records}


def test_same_dataset_name_different_data_make_dataset_resolves_the_same_way() -> None:
    implicit = make_dataset(DataSpec(name="friedman1", n=50))
    explicit = make_dataset(DataSpec(name="friedman1", n=50, sd=1.0))
    assert implicit.spec.sd == 1.0
    assert bool((implicit.y_train == explicit.y_train).all())
    quiet = make_dataset(DataSpec(name="friedman1", n=50, sd=0.1))
    assert not bool((implicit.y_train == quiet.y_train).all())
