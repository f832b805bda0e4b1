"""The durable runner and SweepResult: store-backed sweeps against direct training."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from optiscope.api import SweepResult, sweep
from optiscope.cli._advice import advice
from optiscope.errors import ConfigError, EngineError, SweepExistsError, TrainingFailedError
from optiscope.plotting import build_bands, interval
from optiscope.records import RunRecord
from optiscope.storage import SqliteStore, SweepEntry, new_owner, release_owner
from optiscope.sweeps import ENGINES, SweepSpec, run_configs, run_sweep

SMALL = {"epochs": 2, "n": 200, "hidden": (8,)}


def _same_numbers(a: RunRecord, b: RunRecord) -> bool:
    """Equal results (NaN equals NaN); ``seconds`` is wall-clock time and differs."""

    def numbers(record: RunRecord) -> dict[str, object]:
        data = record.to_dict()
        del data["curve"]["seconds"]
        return data

    return numbers(a) == numbers(b)


def _spec(**grid: list[float]) -> SweepSpec:
    return SweepSpec(grid=grid or {"lr": [0.1, 0.01]}, fixed=SMALL, seeds=2, name="t")


def test_a_sweep_stores_what_direct_training_gives(tmp_path: Path) -> None:
    spec = _spec()
    run = run_sweep(spec, store=tmp_path / "s.sqlite")
    assert (run.trained, run.skipped, run.recovered, run.busy) == (4, 0, 0, 0)
    direct = run_configs([p.config for p in spec.expand()])
    result = SweepResult.load("t", store=tmp_path / "s.sqlite")
    assert len(result.records) == 4
    for stored, expected in zip(result.records, direct, strict=True):
        assert _same_numbers(stored, expected)
    assert all(r.starts == 1 for r in result.runs)
    assert result.complete


def test_running_a_sweep_again_trains_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    run_sweep(_spec(), store=store)
    before = SweepResult.load("t", store=store).runs
    trained: list[RunRecord] = []
    again = run_sweep(_spec(), store=store, on_record=trained.append)
    assert trained == [] and (again.trained, again.skipped) == (0, 4)
    assert SweepResult.load("t", store=store).runs == before


def test_adding_a_value_trains_only_the_new_configs(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    run_sweep(_spec(lr=[0.1, 0.01]), store=store)
    trained: list[RunRecord] = []
    with pytest.raises(SweepExistsError, match="differs in: grid"):  # not without asking
        run_sweep(_spec(lr=[0.1, 0.01, 0.001]), store=store)
    with pytest.raises(SweepExistsError, match="leaves out 2 of its configs"):
        run_sweep(_spec(lr=[0.1, 0.001]), store=store, extend=True)  # extending only adds
    run = run_sweep(
        _spec(lr=[0.1, 0.01, 0.001]), store=store, on_record=trained.append, extend=True
    )
    assert sorted(r.config.seed for r in trained) == [0, 1]
    assert {r.config.hparam_dict["lr"] for r in trained} == {0.001}
    assert (run.trained, run.skipped) == (2, 4)
    assert len(SweepResult.load("t", store=store).records) == 6


def test_an_interrupted_sweep_keeps_what_finished_and_gives_back_the_rest(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s.sqlite"
    seen: list[RunRecord] = []

    def stop_after_two(record: RunRecord) -> None:
        seen.append(record)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(_spec(), store=store, on_record=stop_after_two)
    runs = SweepResult.load("t", store=store).runs
    assert [r.status for r in runs] == ["done", "done", "pending", "pending"]
    # A runner takes on all its configs at once: each counts one attempt.
    assert [r.starts for r in runs] == [1, 1, 1, 1]
    resumed: list[RunRecord] = []
    run = run_sweep(_spec(), store=store, on_record=resumed.append)
    assert (run.trained, run.skipped) == (2, 2)
    assert [r.config for r in resumed] == [r.config for r in runs[2:]]
    final = SweepResult.load("t", store=store)
    assert [r.starts for r in final.runs] == [1, 1, 2, 2]
    uninterrupted = run_configs([p.config for p in _spec().expand()])
    for stored, expected in zip(final.records, uninterrupted, strict=True):
        assert _same_numbers(stored, expected)


def test_rows_left_running_by_a_dead_runner_are_trained_again(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    spec = _spec()
    run_sweep(replace(spec, grid={"lr": [0.1]}), store=store)  # lr 0.1 is done
    owner = new_owner()
    with SqliteStore(store) as target:
        points = spec.expand()
        entries = [SweepEntry(p.config, p.labels) for p in points]
        target.save_sweep("t", spec.to_dict(), entries, extend=True)
        # A runner takes on lr 0.01 ... and its process ends without giving it back.
        target.claim([p.config.key() for p in points[2:]], owner)
    release_owner(owner)
    run = run_sweep(spec, store=store)
    assert (run.recovered, run.trained, run.skipped) == (2, 2, 2)
    assert [r.starts for r in SweepResult.load("t", store=store).runs] == [1, 1, 2, 2]


def test_diverged_configs_are_stored_with_their_status(tmp_path: Path) -> None:
    spec = SweepSpec(
        grid={"lr": [10.0, 0.01]}, fixed={**SMALL, "optimizer": "sgd"}, seeds=2, name="d"
    )
    result = sweep(spec, store=tmp_path / "s.sqlite")
    statuses = [r.status for r in result.runs]
    assert statuses == ["diverged", "diverged", "done", "done"]
    for run in result.runs[:2]:
        assert run.diverged_epoch == 1 and run.curve is not None
        assert not math.isfinite(run.curve.valid_loss[-1])
    summary = result.summary()
    assert list(summary["config"]) == ["lr = 0.01", "lr = 10"]  # diverged ranks last
    assert list(summary["status"]) == ["done", "diverged 2/2"]
    assert math.isnan(summary["final_mean"].iloc[1])
    data = result.plot_data()[0]
    assert data.lines[1].legend == "lr = 10 (2 of 2 seeds diverged)"


def test_the_summary_ranks_by_mean_final_loss_with_intervals(tmp_path: Path) -> None:
    result = sweep(lr=[0.1, 0.01, 0.001], seeds=3, store=tmp_path / "s.sqlite", **SMALL)
    finals: dict[float, list[float]] = {}
    for record in result.records:
        finals.setdefault(record.config.hparam_dict["lr"], []).append(record.curve.valid_loss[-1])
    expected_order = sorted(finals, key=lambda lr: statistics.fmean(finals[lr]))
    summary = result.summary(confidence=0.9)
    assert list(summary["lr"]) == expected_order
    assert list(summary["rank"]) == [1, 2, 3]
    for _, row in summary.iterrows():
        values = finals[row["lr"]]
        stats = interval(values, band="ci", confidence=0.9, floor=0.0)  # an RMSE is >= 0
        assert row["final_mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert row["final_sd"] == pytest.approx(statistics.stdev(values), rel=1e-12)
        assert (row["final_ci_low"], row["final_ci_high"]) == pytest.approx((stats.low, stats.high))


def test_baseline_differences_are_paired_by_seed(tmp_path: Path) -> None:
    result = sweep(lr=[0.1, 0.01], weight_decay=[0.0, 0.1], seeds=3,
                   store=tmp_path / "s.sqlite", **SMALL)  # fmt: skip
    final = {
        (r.config.hparam_dict["lr"], r.config.hparam_dict["weight_decay"], r.config.seed): (
            r.curve.valid_loss[-1]
        )
        for r in result.records
    }
    summary = result.summary(baseline={"lr": 0.01, "weight_decay": 0})
    for _, row in summary.iterrows():
        diffs = [
            final[(row["lr"], row["weight_decay"], s)] - final[(0.01, 0.0, s)] for s in range(3)
        ]
        stats = interval(diffs, band="ci")
        assert row["diff_mean"] == pytest.approx(statistics.fmean(diffs), abs=1e-12)
        assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((stats.low, stats.high))
        assert row["pairs"] == 3
    assert summary.set_index("config")["diff_mean"]["lr = 0.01, weight_decay = 0"] == 0
    with pytest.raises(ConfigError, match="no config matches"):
        result.summary(baseline={"lr": 0.5})
    with pytest.raises(ConfigError, match="does not vary; it varies: lr, weight_decay"):
        result.summary(baseline={"eps": 0.5})
    by_label = result.summary(baseline="lr = 0.1, weight_decay = 0.1")
    assert by_label.set_index("config")["diff_mean"]["lr = 0.1, weight_decay = 0.1"] == 0


def test_figures_from_the_store_equal_figures_from_the_records(tmp_path: Path) -> None:
    arrived: list[RunRecord] = []
    spec = SweepSpec(grid={"lr": [0.1, 0.01], "weight_decay": [0.0, 0.1]}, fixed=SMALL, seeds=2)
    run_sweep(spec, store=tmp_path / "s.sqlite", on_record=arrived.append)
    result = SweepResult.load(spec.resolved_name, store=tmp_path / "s.sqlite")
    panels = result.plot_data(facet=None, band="ci", seeds=True)
    groups: dict[str, list[tuple[int, RunRecord]]] = {}
    for point in spec.expand():
        record = next(r for r in arrived if r.config == point.config)
        groups.setdefault(point.label, []).append((point.seed, record))
    ordered = sorted(
        groups.items(), key=lambda item: [float(v.split(" = ")[1]) for v in item[0].split(", ")]
    )
    expected = build_bands(ordered, band="ci", show_seeds=True)
    assert panels[0].to_dict() == expected.to_dict()
    fig = result.plot()
    assert len(fig.axes) == 2  # one panel per lr
    assert [ax.get_title() for ax in fig.axes] == ["lr = 0.01", "lr = 0.1"]


def test_the_frame_has_one_row_per_run_and_epoch(tmp_path: Path) -> None:
    result = sweep(lr=[0.1, 0.01], seeds=2, store=tmp_path / "s.sqlite", **SMALL)
    frame = result.frame
    assert len(frame) == 4 * SMALL["epochs"]
    assert list(frame["config"].cat.categories) == ["lr = 0.01", "lr = 0.1"]
    assert frame["config"].cat.ordered
    first = result.records[0]
    rows = frame[frame["number"] == 1]
    assert list(rows["valid_loss"]) == list(first.curve.valid_loss)
    assert set(frame["seed"]) == {0, 1} and set(frame["status"]) == {"done"}
    csv = result.export(tmp_path / "out.csv")
    assert csv.read_text().splitlines()[0].startswith("number,config,lr,seed,status,key,epoch")
    with pytest.raises(ConfigError, match=r"must end in \.csv or \.parquet"):
        result.export(tmp_path / "out.xlsx")


def test_a_spec_file_with_overrides(tmp_path: Path) -> None:
    path = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed={**SMALL, "epochs": 9}, name="f").save(
        tmp_path / "spec.toml"
    )
    result = sweep(path, epochs=1, lr=[0.5, 0.05, 0.005], seeds=1, store=tmp_path / "s.sqlite")
    assert result.name == "f"
    assert [r.config.hparam_dict["lr"] for r in result.records] == [0.5, 0.05, 0.005]
    assert {r.config.epochs for r in result.records} == {1}


def test_a_failing_engine_keeps_finished_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optiscope.sweeps._sweep as runner

    def half_then_crash(configs, *, on_record, **options):  # type: ignore[no-untyped-def]
        on_record(run_configs(configs[:1])[0])
        raise RuntimeError("out of memory")

    monkeypatch.setattr(runner, "run_configs", half_then_crash)
    with pytest.raises(
        TrainingFailedError, match=r"RuntimeError: out of memory.*1 configs finished"
    ) as caught:
        run_sweep(_spec(), store=tmp_path / "s.sqlite")
    assert isinstance(caught.value, EngineError)
    assert (caught.value.sweep, caught.value.finished) == ("t", 1)
    assert "`optiscope resume t --store " in advice(caught.value)
    statuses = [r.status for r in SweepResult.load("t", store=tmp_path / "s.sqlite").runs]
    assert statuses == ["done", "pending", "pending", "pending"]


def test_nothing_runs_when_a_config_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config 2 of 2"):
        sweep(lr=[0.1, -1.0], store=tmp_path / "s.sqlite", **SMALL)
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_stores_the_reference_results(engine: str, tmp_path: Path) -> None:
    spec = _spec()
    run_sweep(spec, store=tmp_path / "s.sqlite", engine=engine)
    reference = run_configs([p.config for p in spec.expand()], engine="reference")
    stored = SweepResult.load("t", store=tmp_path / "s.sqlite").records
    for got, expected in zip(stored, reference, strict=True):
        assert _same_numbers(replace(got, engine="x"), replace(expected, engine="x"))
