"""build_curves is plain data (no matplotlib needed); render_curves draws exactly that data."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from curve_records import epoch_curve
from optiscope.errors import ConfigError
from optiscope.plotting import build_curves, render_curves, robust_upper_limit
from optiscope.records import RunConfig, RunRecord


def _record(values: list[float], status: str = "done") -> RunRecord:
    diverged = len(values) if status == "diverged" else None
    curve = epoch_curve(values)
    return RunRecord(RunConfig(), curve, status=status, diverged_epoch=diverged)  # type: ignore[arg-type]


def test_an_exploding_line_does_not_flatten_the_others() -> None:
    calm = [_record([1.0, 0.6, 0.5, 0.45]), _record([0.9, 0.5, 0.4, 0.35])]
    exploding = _record([0.8, 5.0, 300.0, 1e6])
    data = build_curves([*calm, exploding], ["a", "b", "c"])
    low, high = data.y_limits
    assert low < 0.35 and 1.0 < high < 5.0
    assert data.lines[2].off_scale_x == 2
    assert data.lines[0].off_scale_x is None and data.lines[1].off_scale_x is None
    assert "leaves the plot" in data.lines[2].legend


def test_without_outliers_every_point_is_inside() -> None:
    records = [_record([3.0, 2.0, 1.0]), _record([2.5, 1.5, 0.7])]
    data = build_curves(records, ["a", "b"])
    low, high = data.y_limits
    assert low < 0.7 and high > 3.0
    assert all(line.off_scale_x is None for line in data.lines)


def test_robust_upper_limit_keeps_everything_when_lines_agree() -> None:
    assert robust_upper_limit([[1.0, 2.0], [1.5, 3.0]]) == 3.0
    assert robust_upper_limit([[1.0, 1.1], [1.0, 1000.0]]) == 1.1


def test_diverged_runs_keep_their_finite_points_and_where_they_diverged() -> None:
    data = build_curves([_record([1.0, 0.5, math.nan], "diverged")], ["lr = 1"], x="samples")
    line = data.lines[0]
    assert line.x == (100, 200) and line.y == (1.0, 0.5)
    assert line.diverged_x == 300
    assert line.legend == "lr = 1 (diverged at samples 300)"


def test_log_scale_limits_cover_all_positive_values() -> None:
    data = build_curves([_record([1.0, 1e-3]), _record([10.0, 1e4])], ["a", "b"], log_y=True)
    low, high = data.y_limits
    assert low < 1e-3 and high > 1e4
    assert data.log_y


def test_on_a_log_scale_an_explosion_leaves_the_plot_too() -> None:
    """Four decades above the typical level stay; a run heading to 1e12 leaves the axes."""
    calm = [_record([1.0, 0.5, 0.3]), _record([0.9, 0.4, 0.2])]
    data = build_curves([*calm, _record([0.8, 1e6, 1e12])], ["a", "b", "c"], log_y=True)
    low, high = data.y_limits
    assert low < 0.2 and 1.0 < high < 1e6
    assert data.lines[2].off_scale_x == 2 and data.lines[2].legend == "c (leaves the plot)"


def test_a_line_that_only_starts_high_is_not_said_to_leave_the_plot() -> None:
    """A slow start above the axes is told apart from an explosion, and gets no arrow."""
    calm = [_record([1.0, 0.6, 0.5, 0.45]), _record([0.9, 0.5, 0.4, 0.35])]
    data = build_curves([*calm, _record([9.0, 0.7, 0.5, 0.4])], ["a", "b", "slow"])
    line = data.lines[2]
    assert line.off_scale_x is None
    assert line.legend == "slow (starts at 9, above the plot)"
    both = build_curves([*calm, _record([9.0, 0.7, 0.5, 40.0])], ["a", "b", "c"]).lines[2]
    assert both.off_scale_x == 4
    assert both.legend == "c (starts at 9, above the plot, leaves the plot)"
    high = build_curves([*calm, *calm, _record([50.0, 60.0, 70.0, 80.0])], list("abcde"))
    assert high.lines[4].legend == "e (above the plot throughout)"


def test_when_every_run_diverges_at_once_the_figure_says_so() -> None:
    """No finite point anywhere: no y-range, but the crosses are drawn and a note explains."""
    records = [_record([math.nan], "diverged"), _record([math.inf], "diverged")]
    data = build_curves(records, ["lr = 10", "lr = 100"])
    assert data.y_limits is None and "every run diverged" in data.note
    fig = render_curves(data)
    ax = fig.axes[0]
    crosses = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert len(crosses) == 2 and all(list(c.get_xdata()) == [1] for c in crosses)
    assert any("every run diverged" in t.get_text() for t in ax.texts)
    low, high = ax.get_xlim()
    assert low < 1 < high


def test_the_note_says_why_nothing_is_drawn() -> None:
    failed = [_record([math.nan], "error"), _record([math.nan], "error")]
    assert "every run failed with an error" in build_curves(failed, ["a", "b"]).note
    nonpositive = [_record([0.0, -1.0])]
    assert "no positive loss" in build_curves(nonpositive, ["a"], log_y=True).note
    assert build_curves([_record([1.0])], ["a"]).note == ""


def test_crosses_alone_get_an_x_range_that_suits_the_axis() -> None:
    diverged = [_record([1.0, math.nan], "diverged")]
    gone = [dataclasses.replace(diverged[0], curve=dataclasses.replace(
        diverged[0].curve, valid_loss=(math.nan, math.nan)))]  # fmt: skip
    low, high = build_curves(gone, ["a"], x="samples").x_limits
    assert 150 < low < 200 < high < 250  # around samples 200, not (199, 201)
    logged = build_curves(gone, ["a"], x="step", log_x=True)
    low, high = logged.x_limits
    assert 0 < low < 20 < high  # positive on a log axis
    render_curves(logged)  # (matplotlib warns about a non-positive log limit: an error here)


def test_payload_is_json() -> None:
    data = build_curves([_record([1.0, math.nan], "diverged")], ["a"], x="step")
    payload = json.loads(json.dumps(data.to_dict(), allow_nan=False))
    assert payload["lines"][0]["diverged_x"] == 20
    assert payload["x_label"] == "Optimizer step"


def test_unknown_axis_and_label_mismatch() -> None:
    with pytest.raises(ConfigError, match="x = 'time' is not an x-axis"):
        build_curves([_record([1.0])], ["a"], x="time")
    with pytest.raises(ConfigError, match="got 2 labels for 1 records"):
        build_curves([_record([1.0])], ["a", "b"])


def test_render_draws_the_built_data() -> None:
    data = build_curves([_record([1.0, 0.5]), _record([2.0, math.nan], "diverged")], ["a", "b"])
    fig = render_curves(data)
    ax = fig.axes[0]
    assert list(ax.get_lines()[0].get_ydata()) == [1.0, 0.5]
    assert ax.get_ylim() == pytest.approx(data.y_limits)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["a", "b (diverged at epoch 2)"]
