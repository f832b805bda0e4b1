"""Landscape figures as data: surfaces, paths and heatmaps, checked without drawing (but for
the layout of the race figure)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from optiscope.landscapes import LANDSCAPES, get_landscape
from optiscope.plotting import build_heatmap, build_paths, build_race, build_surface
from optiscope.plotting._animation import _frame_steps
from optiscope.plotting._landscapes import LOG_LEVELS_RATIO
from optiscope.records import Trajectory


def test_surface_grid_levels_and_json() -> None:
    for f in LANDSCAPES.values():
        surface = build_surface(f, n=40)
        assert surface.z.shape == (40, 40)
        assert surface.x[0] == f.domain[0][0] and surface.y[-1] == f.domain[1][1]
        assert surface.z[3, 7] == f(surface.x[7], surface.y[3])  # rows follow y
        levels = np.asarray(surface.levels)
        assert (np.diff(levels) > 0).all()
        assert levels[0] <= surface.z.min() and levels[-1] >= surface.z.max() - 1e-9
        spread = (surface.z.max() - surface.z.min()) / (np.median(surface.z) - surface.z.min())
        assert surface.log_levels == bool(spread > LOG_LEVELS_RATIO)
        json.dumps(surface.to_dict(), allow_nan=False)


def test_paths_keep_finite_positions_and_positive_gaps() -> None:
    f = get_landscape("saddle")  # minimum value -1: gaps are values + 1
    done = Trajectory("a", x=(0.0, 0.0), y=(0.5, 1.0), value=(-0.4375, -1.0))
    diverged = Trajectory("b", x=(1.0,), y=(0.0,), value=(1.0,), status="diverged", diverged_step=1)
    first, second = build_paths([done, diverged], f)
    assert first.gap == (0.5625,) and first.step == (0,)  # the exact minimum has no log gap
    assert second.legend == "b (diverged at step 1)" and second.end == (1.0, 0.0)
    assert first.color != second.color
    data = build_race([done, diverged], f, start=(0.0, 0.5), steps=1, n=20)
    json.dumps(data.to_dict(), allow_nan=False)


def test_heatmap_cells_are_row_major_with_missing_marked() -> None:
    data = build_heatmap(
        "lr",
        [1e-3, 1e-2, 1e-1],
        "beta",
        [0.0, 0.9],
        final_distance=np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0]),
        reached_step=np.array([-1, 3, -1, 7, 8, 9]),
        diverged_step=np.array([-1, -1, 12, -1, -1, -1]),
        tol=0.01,
        steps=20,
        x_log=True,
        y_log=False,
    )
    assert data.final_distance.shape == (2, 3) and data.final_distance[1, 0] == 4.0
    assert data.diverged.tolist() == [[False, False, True], [False, False, False]]
    assert math.isnan(data.reached_step[0, 0]) and data.reached_step[1, 2] == 9
    assert data.x_log and not data.y_log
    payload = data.to_dict()
    assert payload["final_distance"][0][2] is None
    json.dumps(payload, allow_nan=False)


def test_gif_frames_are_denser_at_the_start_and_end_at_the_last_step() -> None:
    shown = _frame_steps(500, 48)
    assert shown[0] == 0 and shown[-1] == 500 and shown == sorted(set(shown))
    assert shown[1] - shown[0] <= shown[-1] - shown[-2]
    assert _frame_steps(3, 48) == [0, 1, 2, 3]


def test_a_path_that_diverged_at_step_0_or_kept_only_its_start_still_renders() -> None:
    from optiscope.api import PathResult
    from optiscope.plotting import render_race

    f = get_landscape("rosenbrock", b=2)
    nothing = Trajectory("gone", x=(), y=(), value=(), status="diverged", diverged_step=0)
    start_only = Trajectory(
        "one", x=(-1.0,), y=(2.0,), value=(8.0,), status="diverged", diverged_step=1
    )
    for path in (nothing, start_only):
        result = PathResult(f, path, start=(-1.0, 2.0), steps=10)
        assert f"diverged at step {path.diverged_step}" in repr(result)
        legend = result.plot().axes[0].get_legend()
        assert any(f"at step {path.diverged_step}" in t.get_text() for t in legend.get_texts())
    figure = render_race(build_race([nothing, start_only], f, start=(-1.0, 2.0), steps=10, n=20))
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "gone (diverged at step 0)" in texts and "one (diverged at step 1)" in texts


def test_heatmap_axes_are_put_in_increasing_order_with_their_cells() -> None:
    from optiscope.plotting._landscape_maps import _edges

    data = build_heatmap(
        "lr",
        [0.1, 0.001, 0.01],
        "beta",
        [0.9, 0.0],
        final_distance=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),  # lr 0.1, 0.001, 0.01 per row
        reached_step=np.array([1, 2, 3, 4, 5, 6]),
        diverged_step=np.array([-1, 7, -1, -1, -1, -1]),
        tol=0.01,
        steps=20,
        x_log=True,
        y_log=False,
    )
    assert data.x_values == (0.001, 0.01, 0.1) and data.y_values == (0.0, 0.9)
    assert data.final_distance.tolist() == [[5.0, 6.0, 4.0], [2.0, 3.0, 1.0]]
    assert data.diverged.tolist() == [[False, False, False], [True, False, False]]
    for values, log in [(data.x_values, True), (data.y_values, False)]:
        assert (np.diff(_edges(values, log)) > 0).all()


def test_a_single_value_gets_a_small_cell_around_it() -> None:
    from optiscope.plotting._landscape_maps import _edges

    np.testing.assert_allclose(_edges([0.05], log=False), [0.045, 0.055])
    np.testing.assert_allclose(_edges([0.0], log=False), [-0.5, 0.5])
    np.testing.assert_allclose(_edges([0.01], log=True), [0.008, 0.0125])


@pytest.mark.parametrize(
    ("x_values", "y_values", "logs", "message"),
    [
        ([0.01, 0.01], [0.5], (False, False), "lr values repeat"),
        ([0.01], [0.0, 0.5], (True, True), r"beta is a log axis but holds 0\.0"),
    ],
)
def test_a_heatmap_axis_that_repeats_a_value_or_is_log_below_zero_is_refused(
    x_values: list[float], y_values: list[float], logs: tuple[bool, bool], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_heatmap(
            "lr",
            x_values,
            "beta",
            y_values,
            final_distance=np.ones(2),
            reached_step=np.ones(2),
            diverged_step=-np.ones(2),
            tol=0.1,
            steps=2,
            x_log=logs[0],
            y_log=logs[1],
        )


def test_a_start_outside_the_default_window_widens_it() -> None:
    f = get_landscape("booth")  # domain x, y in [-10, 10]
    inside = build_race([], f, start=(0.0, 0.0), steps=1, n=10)
    assert inside.surface.domain == f.domain
    path = Trajectory("a", x=(30.0, 1.0), y=(-20.0, 3.0), value=(1.0, 0.0))
    (x_low, x_high), (y_low, y_high) = build_race(
        [path], f, start=(30.0, -20.0), steps=1, n=10
    ).surface.domain
    assert x_low == -10 and x_high == 30 + 0.05 * 40 and y_high == 10
    assert y_low == -20 - 0.05 * 30


def test_the_race_figures_labels_keep_apart() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from optiscope.api import race

    figure = race("himmelblau", ["momentum lr=0.01 beta=0.9", "adam lr=0.1"], steps=50).plot()
    canvas = FigureCanvasAgg(figure)  # as saving a PNG draws it
    canvas.draw()
    renderer = canvas.get_renderer()
    labels = {ax.yaxis.label.get_text(): ax.yaxis.label for ax in figure.axes}
    bar = labels["f(x, y) (log-spaced levels)"].get_window_extent(renderer)
    value = labels["f(x, y) - f*  (log scale)"].get_window_extent(renderer)
    # the colour bar's label and the value panel's, side by side: read as one line if closer
    assert (value.x0 - bar.x1) / figure.dpi >= 0.4


def test_heatmap_zero_distance_cells_are_not_painted_diverged() -> None:
    from optiscope.plotting import render_heatmap

    data = build_heatmap(
        "lr",
        [1e-3, 1e-2],
        "beta",
        [0.0, 0.9],
        final_distance=np.array([0.0, 0.5, np.nan, 2e-3]),  # cell 0 sits exactly on the minimum
        reached_step=np.array([4, -1, -1, 9]),
        diverged_step=np.array([-1, -1, 3, -1]),
        tol=0.01,
        steps=10,
        x_log=True,
        y_log=False,
    )
    assert data.distance_floor == 2e-3  # the smallest positive distance
    assert data.shown_distance[0, 0] == 2e-3  # the best cell is coloured at the scale's floor
    assert math.isnan(data.shown_distance[1, 0])  # only the diverged cell is missing
    mesh = render_heatmap(data).axes[0].collections[0]
    masked = np.ma.getmaskarray(mesh.get_array()).reshape(2, 2)
    assert masked.tolist() == data.diverged.tolist()  # the "bad" (diverged) colour


def test_heatmap_where_every_cell_reached_the_minimum_exactly_has_no_diverged_colour() -> None:
    data = build_heatmap(
        "lr",
        [1e-3, 1e-2],
        "beta",
        [0.5],
        final_distance=np.zeros(2),
        reached_step=np.array([4, 2]),
        diverged_step=np.array([-1, -1]),
        tol=0.01,
        steps=10,
        x_log=True,
        y_log=False,
    )
    assert data.distance_floor == 0.01 and np.isfinite(data.shown_distance).all()
