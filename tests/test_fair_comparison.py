"""``SweepResult.compare_optimizers``: the grids it reads, the tuned configs it picks, the
playbook's flags, the figure, and ``optiscope runs compare``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from curve_records import epoch_curve
from optiscope.api import FLAG_KINDS, OptimizerComparison, SweepResult
from optiscope.cli import main
from optiscope.errors import ConfigError
from optiscope.plotting import best_of_k
from optiscope.records import RunConfig
from optiscope.storage import StoredRun
from optiscope.sweeps import SweepSpec

nan = math.nan

# adam's finals per lr and seed (seeds 0, 1, 2), and sgd's: lr 0.1 is adam's best and the largest
# lr it tried (an edge); sgd's best is lr 1, inside its grid (lr 10 diverged on two seeds).
ADAM = {0.001: [0.9, 0.8, 1.0], 0.01: [0.5, 0.7, 0.6], 0.1: [0.3, 0.4, 0.2]}
SGD = {0.01: [1.2, 1.1, 1.3], 0.1: [0.6, 0.5, 0.7], 1.0: [0.35, 0.25, 0.3], 10.0: [nan, 0.9, nan]}


def _run(position: int, optimizer: str, lr: float, seed: int, final: float, **kw: Any) -> StoredRun:
    config = RunConfig(optimizer=optimizer, hparams={"lr": lr}, seed=seed, **kw)
    status = "done" if math.isfinite(final) else "diverged"
    settings = {"optimizer": optimizer, "lr": lr}
    return StoredRun(
        position=position,
        key=config.key(),
        config=config,
        labels={
            "label": f"optimizer = {optimizer}, lr = {lr:g}",
            "settings": settings,
            "seed": seed,
        },
        status=status,
        curve=epoch_curve([2.0, final]),
    )


def _sweep(grids: dict[str, dict[float, list[float]]], **kw: Any) -> SweepResult:
    runs = []
    for optimizer, grid in grids.items():
        for lr, finals in grid.items():
            for seed, final in enumerate(finals):
                runs.append(_run(len(runs), optimizer, lr, seed, final, **kw))
    return SweepResult("opt", SweepSpec(grid={"lr": [0.1]}), runs, Path())


def test_table_counts_runs_and_picks_the_tuned_config_by_its_mean() -> None:
    found = _sweep({"adam": ADAM, "sgd": SGD}).compare_optimizers(resamples=50)
    table = found.table().set_index("optimizer")
    assert table.loc["adam", "configs"] == 3 and table.loc["sgd", "configs"] == 4
    assert table.loc["sgd", "runs"] == 12 and table.loc["sgd", "diverged"] == 2
    assert table.loc["adam", "tuned"] == "optimizer = adam, lr = 0.1"
    assert table.loc["adam", "tuned_mean"] == pytest.approx(0.3)
    # sgd's lr 10 has the best single seed (0.9 is not), but it diverged twice: never tuned.
    assert table.loc["sgd", "tuned"] == "optimizer = sgd, lr = 1"
    assert found.goal == "min" and found.metric == "rmse"


def test_curves_are_the_estimator_on_each_grid_by_seed() -> None:
    found = _sweep({"adam": ADAM, "sgd": SGD}).compare_optimizers(resamples=50)
    curves = found.curves
    for name, grid in (("adam", ADAM), ("sgd", SGD)):
        by_seed = [[finals[s] for finals in grid.values()] for s in range(3)]
        expected = best_of_k(by_seed).expected
        got = curves[curves["optimizer"] == name]["expected"].tolist()
        assert got == pytest.approx(expected)
    # Budget 1 of adam: the mean of its nine runs; the full grid: the mean of each seed's best.
    adam = curves[curves["optimizer"] == "adam"]["expected"].tolist()
    assert adam[0] == pytest.approx(sum(sum(v) for v in ADAM.values()) / 9)
    assert adam[-1] == pytest.approx((0.3 + 0.4 + 0.2) / 3)
    sgd_failed = curves[curves["optimizer"] == "sgd"]["all_failed"].tolist()
    assert sgd_failed[0] == pytest.approx(2 / 12) and sgd_failed[1] == 0.0


def test_paired_improvement_compares_the_tuned_configs_seed_by_seed() -> None:
    found = _sweep({"adam": ADAM, "sgd": SGD}).compare_optimizers(resamples=200)
    pairs = found.improvement.set_index(["optimizer", "other"])
    # adam lr 0.1 vs sgd lr 1 by seed: 0.3 < 0.35, 0.4 > 0.25, 0.2 < 0.3: adam wins 2 of 3.
    assert pairs.loc[("adam", "sgd"), "probability"] == pytest.approx(2 / 3)
    assert pairs.loc[("sgd", "adam"), "probability"] == pytest.approx(1 / 3)
    low, high = pairs.loc[("adam", "sgd"), ["low", "high"]]
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0


def test_flags_a_best_on_the_grid_edge_and_many_diverged_runs() -> None:
    found = _sweep({"adam": ADAM, "sgd": SGD}).compare_optimizers(resamples=20)
    kinds = {(f.optimizer, f.kind) for f in found.flags}
    assert kinds == {("adam", "edge")}  # sgd's best is inside; 2 of 12 diverged is below 1/4
    edge = found.flags[0]
    assert (edge.setting, edge.value, edge.side) == ("lr", 0.1, "largest")
    assert edge.values == (0.001, 0.01, 0.1) and "largest" in str(edge)
    assert {f.kind for f in found.flags} <= set(FLAG_KINDS)
    # At a share of 10% the two diverged runs of twelve are flagged.
    strict = _sweep({"adam": ADAM, "sgd": SGD}).compare_optimizers(resamples=20, diverged_share=0.1)
    diverged = [f for f in strict.flags if f.kind == "diverged"]
    assert [(f.optimizer, f.diverged, f.runs) for f in diverged] == [("sgd", 2, 12)]


def test_two_values_are_never_an_edge_and_a_lower_edge_is_named() -> None:
    two = {0.1: [0.3, 0.3], 0.01: [0.5, 0.5]}
    low = {0.001: [0.1, 0.1], 0.01: [0.5, 0.5], 0.1: [0.9, 0.9]}
    found = _sweep({"adam": two, "sgd": low}).compare_optimizers(resamples=20)
    assert [(f.optimizer, f.side) for f in found.flags] == [("sgd", "smallest")]


def test_weight_decay_zero_is_not_an_edge_to_extend_past() -> None:
    # Weight decay cannot go below 0: a best at 0 is not flagged; a best at the top is.
    def grid(best: float) -> SweepResult:
        runs = []
        for wd in (0.0, 0.01, 0.1):
            config = RunConfig(optimizer="adamw", hparams={"lr": 0.01, "weight_decay": wd})
            final = 0.1 if wd == best else 0.5
            settings = {"weight_decay": wd}
            labels = {"label": f"weight_decay = {wd:g}", "settings": settings, "seed": 0}
            runs.append(StoredRun(len(runs), config.key(), config, labels, "done",
                                  curve=epoch_curve([1.0, final])))  # fmt: skip
        return SweepResult("wd", SweepSpec(grid={"lr": [0.1]}), runs, Path())

    assert grid(0.0).compare_optimizers(resamples=10).flags == []
    top = grid(0.1).compare_optimizers(resamples=10).flags
    assert [(f.setting, f.side) for f in top] == [("weight_decay", "largest")]


def test_an_unfinished_grid_is_flagged_and_left_out() -> None:
    result = _sweep({"adam": ADAM, "sgd": SGD})
    first = result.runs[0]
    pending = StoredRun(first.position, first.key, first.config, first.labels, "pending")
    others = [r for r in result.runs if r.position != 0]
    # adam seed 0 of lr 0.001 is pending: seeds 1 and 2 remain for adam.
    found = SweepResult("opt", result.spec, [pending, *others], Path()).compare_optimizers(
        resamples=20
    )
    assert found.table().set_index("optimizer").loc["adam", "seeds"] == 2
    lone = _sweep({"adam": {0.1: [0.3]}, "sgd": SGD})
    run = lone.runs[0]
    gone = StoredRun(run.position, run.key, run.config, run.labels, "running")
    found = SweepResult("opt", lone.spec, [gone, *lone.runs[1:]], Path()).compare_optimizers(
        resamples=20
    )
    assert ("adam", "incomplete") in {(f.optimizer, f.kind) for f in found.flags}
    assert [line.label for line in found.data.lines] == ["sgd"]


def test_mixed_metrics_and_bad_shares_are_refused() -> None:
    result = _sweep({"adam": ADAM})
    other = _run(99, "sgd", 0.1, 0, 0.5, metric="batch_rmse")
    mixed = SweepResult("opt", result.spec, [*result.runs, other], Path())
    with pytest.raises(ConfigError, match="mixes validation metrics"):
        mixed.compare_optimizers()
    with pytest.raises(ConfigError, match="diverged_share"):
        result.compare_optimizers(diverged_share=2.0)


def test_a_score_is_maximized() -> None:
    # Accuracy: higher is better, so adam's tuned config is its highest mean and the expected
    # best of all three configs is each seed's largest value.
    found = _sweep({"adam": ADAM}, metric="accuracy").compare_optimizers(resamples=20)
    assert found.goal == "max"
    assert found.table().loc[0, "tuned"] == "optimizer = adam, lr = 0.001"
    assert found.curves["expected"].iloc[-1] == pytest.approx((0.9 + 0.8 + 1.0) / 3)
    assert "higher is better" in found.data.y_label


def test_exploding_small_budgets_leave_the_axes_and_say_so() -> None:
    # rmsprop's one random trial expects 1000s (its large lrs blow up without a NaN): the
    # axes stop near the typical level and its legend names the budgets drawn above them.
    wild = {0.001: [0.3, 0.3, 0.3], 0.01: [5e3, 4e3, 6e3], 0.1: [9e3, 8e3, 7e3]}
    found = _sweep({"adam": ADAM, "rmsprop": wild}).compare_optimizers(resamples=20)
    data = found.data
    assert not data.log_y and data.y_top < 100
    rmsprop = next(line for line in data.lines if line.label == "rmsprop")
    assert "above the axes at k ≤ 2" in rmsprop.legend(data.y_top)
    assert "above the axes" not in data.lines[0].legend(data.y_top)
    bottom, top = found.plot().axes[0].get_ylim()
    assert 0 < bottom < 0.3 and data.y_top <= top < 1.1 * data.y_top + 0.1


def test_the_figure_has_budget_curves_and_the_matrix(tmp_path: Path) -> None:
    found = _sweep({"adam": ADAM, "sgd": SGD}).compare_optimizers(resamples=50)
    assert isinstance(found, OptimizerComparison)
    fig = found.plot()
    left, right = fig.axes[:2]
    assert "lower is better" in left.get_ylabel()
    assert len(left.get_lines()) == 2
    assert [t.get_text() for t in right.get_xticklabels()] == ["adam", "sgd"]
    path = found.save(tmp_path / "fair.png")
    assert path.stat().st_size > 10_000
    data = found.to_json_dict()
    assert data["flags"][0]["text"].startswith("adam:") and data["goal"] == "min"


def test_runs_compare_prints_the_table_and_draws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, out = tmp_path / "r.sqlite", tmp_path / "c.png"
    args = ["sweep", "--optimizer", "adam,sgd", "--lr", "0.1,0.01,0.001", "--seeds", "2"]
    args += ["--epochs", "2", "--n", "200", "--hidden", "8", "--name", "two", "--yes"]
    args += ["--quiet", "--store", str(store), "--out", str(tmp_path / "s.png")]
    main(args)
    capsys.readouterr()
    main(["runs", "compare", "two", "--store", str(store), "--out", str(out), "--resamples", "50"])
    printed = capsys.readouterr()
    assert "best_of_1" in printed.out and "tuned" in printed.out
    assert "P(adam beats sgd)" in printed.out
    assert out.stat().st_size > 10_000
    main(["runs", "compare", "two", "--store", str(store), "--out", str(out), "--json",
          "--resamples", "20"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert {row["optimizer"] for row in data["table"]} == {"adam", "sgd"}
    assert all(flag["advice"] for flag in data["flags"])
    assert data["goal"] == "min" and len(data["curves"]) == 6  # 3 budgets per optimizer
    with pytest.raises(SystemExit) as exit:
        main(["runs", "compare", "nope", "--store", str(store)])
    assert exit.value.code == 2
