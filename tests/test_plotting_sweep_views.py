"""The sweep page's plain-data views: log-spaced settings, slices, thinned curves."""

from __future__ import annotations

import math

import pytest

from curve_records import epoch_curve
from optiscope.errors import ConfigError
from optiscope.plotting import build_bands, build_slices, log_spaced, thin_bands
from optiscope.records import RunConfig, RunRecord


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1e-4, 1e-3, 1e-2, 1e-1], True),
        ([0.001, 0.003, 0.01, 0.03, 0.1], True),  # half decades
        ([1e-3, 1e-1], True),  # two values two decades apart
        ([0.1, 0.2], False),
        ([0.0, 0.01, 0.1], False),  # zero has no logarithm
        ([0.1, 0.2, 0.3, 0.4], False),  # even steps
        ([16, 32, 64, 128], True),  # batch sizes double
        (["relu", "tanh"], False),
        ([0.9], False),
        ([True, False], False),
    ],
)
def test_log_spaced_settings(values: list[object], expected: bool) -> None:
    assert log_spaced(values) is expected


def test_log_spaced_ignores_repeats() -> None:
    """A setting appears once per config and seed: repeats do not make it log-spaced."""
    assert log_spaced([1e-3, 1e-3, 1e-2, 1e-2, 1e-1, 1e-1])


ROWS = [
    {"config": "lr = 0.1, act = relu", "lr": 0.1, "act": "relu", "status": "done",
     "final_mean": 0.5, "final_ci_low": 0.4, "final_ci_high": 0.6, "best_mean": 0.45},
    {"config": "lr = 0.001, act = tanh", "lr": 0.001, "act": "tanh", "status": "diverged 1/3",
     "final_mean": math.nan, "final_ci_low": math.nan, "final_ci_high": math.nan,
     "best_mean": 0.9},
    {"config": "lr = 0.01, act = relu", "lr": 0.01, "act": "relu", "status": "done",
     "final_mean": 0.3, "final_ci_low": 0.2, "final_ci_high": 0.4, "best_mean": 0.25},
]  # fmt: skip


def test_slices_sort_numbers_and_index_categories() -> None:
    lr, act = build_slices(ROWS, ["lr", "act"])
    assert lr.setting == "lr" and lr.log_x
    assert [p.x for p in lr.points] == [0.001, 0.01, 0.1]
    assert [p.y for p in lr.points][1:] == [0.3, 0.5]
    assert math.isnan(lr.points[0].y) and lr.points[0].status == "diverged 1/3"
    assert act.categories == ("relu", "tanh") and not act.log_x
    assert sorted((p.value, p.x) for p in act.points) == [
        ("relu", 0.0),
        ("relu", 0.0),
        ("tanh", 1.0),
    ]
    data = lr.to_dict()
    assert data["points"][0]["y"] is None  # JSON has no NaN


def test_best_slices_have_no_interval() -> None:
    (lr,) = build_slices(ROWS, ["lr"], metric="best")
    assert [p.y for p in lr.points] == [0.9, 0.25, 0.45]
    assert all(math.isnan(p.low) for p in lr.points)


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ConfigError, match="final, best"):
        build_slices(ROWS, ["lr"], metric="median")


def _bands(epochs: int):  # type: ignore[no-untyped-def]
    losses = [1.0 / e for e in range(1, epochs + 1)]
    seeds = [(s, RunRecord(RunConfig(seed=s), epoch_curve(losses))) for s in range(2)]
    return build_bands([("a", seeds)], show_seeds=True)


def test_thinning_keeps_exact_points_first_and_last() -> None:
    data = _bands(1000)
    thin = thin_bands(data, 11)
    (line,) = thin.lines
    # 11 evenly spread of 1000 epochs: every 99.9th, rounded to an epoch
    assert line.x == tuple(1.0 + round(i * 999 / 10) for i in range(11))
    assert line.x[0] == 1.0 and line.x[-1] == 1000.0
    original = dict(zip(data.lines[0].x, data.lines[0].mean, strict=True))
    assert all(original[x] == m for x, m in zip(line.x, line.mean, strict=True))  # never averaged
    assert all(len(s.x) <= 11 for s in line.seed_lines)
    assert thin.y_limits == data.y_limits


def test_short_curves_are_left_alone() -> None:
    data = _bands(30)
    assert thin_bands(data, 400) is data


def test_a_line_needs_two_points() -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        thin_bands(_bands(30), 1)
