"""Weight decay on a landscape, and sensitivity maps: data first (``build_*``), then pixels.

:func:`build_decay` collects paths run with several decay rates, the fixed points they should
settle at, and the distance-to-minimum curve; :func:`render_decay` draws them in three panels.
:func:`build_heatmap` arranges a sensitivity map's cells on their two axes;
:func:`render_heatmap` draws the final distance and the steps to reach the tolerance, with
diverged cells marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optiscope.landscapes import Landscape, Point
from optiscope.plotting._landscapes import (
    PathLine,
    SurfaceData,
    _draw_line,
    build_paths,
    build_surface,
    draw_surface,
)
from optiscope.plotting._style import panel_axes
from optiscope.records import Trajectory

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DecayData",
    "HeatmapData",
    "build_decay",
    "build_heatmap",
    "render_decay",
    "render_heatmap",
]


DIVERGED_COLOR = "#d62728"
NEVER_COLOR = "#bdbdbd"


@dataclass(frozen=True)
class DecayData:
    """Everything the weight-decay figure needs.

    Attributes:
        surface: the landscape on its default domain.
        zoom: the landscape around the minimum and the fixed points.
        lines: one path per decay rate (label ``wd = 0.01``).
        fixed: ``(wd, x, y)`` of each predicted fixed point, in the order of ``lines``.
        minimum: the minimum the fixed points move away from.
        curve_wd, curve_distance: predicted distance from the minimum over a fine range of rates.
        measured: ``(wd, distance)`` from the end of each path to the minimum.
        title: figure title.
        equation: the fixed-point equation, for the legend.
    """

    surface: SurfaceData
    zoom: SurfaceData
    lines: tuple[PathLine, ...]
    fixed: tuple[tuple[float, float, float], ...]
    minimum: Point
    curve_wd: tuple[float, ...]
    curve_distance: tuple[float, ...]
    measured: tuple[tuple[float, float], ...]
    title: str = ""
    equation: str = "grad f = -wd p"


def _zoom_domain(points: Sequence[Point], minimum: Point) -> tuple[Point, Point]:
    xs = [p[0] for p in points] + [minimum[0]]
    ys = [p[1] for p in points] + [minimum[1]]
    half = max(max(xs) - min(xs), max(ys) - min(ys), 1e-3) * 0.6
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return ((cx - half, cx + half), (cy - half, cy + half))


def build_decay(
    trajectories: Sequence[Trajectory],
    weight_decays: Sequence[float],
    fixed_points: Sequence[Point],
    landscape: Landscape,
    *,
    minimum: Point,
    curve: Sequence[tuple[float, float]],
    title: str = "",
    equation: str = "grad f = -wd p",
) -> DecayData:
    """Plain data for the weight-decay figure.

    Args:
        trajectories: one path per rate.
        weight_decays: the rates, in the same order.
        fixed_points: the predicted fixed point per rate.
        landscape: the function.
        minimum: the minimum the decayed points move away from.
        curve: ``(wd, predicted distance)`` over a fine range of rates.
        title: figure title.
        equation: the fixed-point equation, for the legend.
    """
    ends = [(t.x[-1], t.y[-1]) for t in trajectories if t.x and t.status == "done"]
    zoom = _zoom_domain([*ends, *fixed_points], minimum)
    measured = tuple(
        (float(wd), math.hypot(t.x[-1] - minimum[0], t.y[-1] - minimum[1]))
        for wd, t in zip(weight_decays, trajectories, strict=True)
        if t.x and t.status == "done"
    )
    return DecayData(
        surface=build_surface(landscape),
        zoom=build_surface(landscape, domain=zoom, n=120, log_levels=False),
        lines=build_paths(trajectories, landscape),
        fixed=tuple(
            (float(wd), float(p[0]), float(p[1]))
            for wd, p in zip(weight_decays, fixed_points, strict=True)
        ),
        minimum=minimum,
        curve_wd=tuple(float(w) for w, _ in curve),
        curve_distance=tuple(float(d) for _, d in curve),
        measured=measured,
        title=title,
        equation=equation,
    )


def render_decay(data: DecayData, *, ax: Sequence[Axes] | None = None) -> Figure:
    """Three panels: the paths, a zoom on where they end, and distance against decay rate.

    In the zoom, a cross marks each rate's predicted fixed point and a dot where its path
    ended; the star is the true minimum. The right panel draws the predicted distance from the
    minimum (line) and the measured one (dots), on log-log axes (rate 0 is left out).

    Args:
        data: from :func:`build_decay`.
        ax: ``None`` for a new figure, or three axes of one figure to draw the panels into.

    Raises:
        ConfigError: when ``ax`` is not three axes.
    """
    fig, (paths, zoom, curve) = panel_axes(ax, 3, (15.5, 4.9))
    draw_surface(paths, data.surface, colorbar=False)
    draw_surface(zoom, data.zoom, colorbar=False)
    for line, (_, fx, fy) in zip(data.lines, data.fixed, strict=True):
        _draw_line(paths, line)
        _draw_line(zoom, line)
        zoom.plot(
            fx,
            fy,
            marker="x",
            color=line.color,
            markersize=11,
            markeredgewidth=2.5,
            linestyle="none",
            zorder=6,
        )
    paths.set_title("paths")
    paths.legend(loc="lower right", fontsize="x-small", framealpha=0.85)
    zoom.plot([], [], marker="x", color="black", linestyle="none", label="predicted fixed point")
    zoom.plot([], [], marker="o", color="black", linestyle="none", label="end of the path")
    zoom.legend(loc="lower right", fontsize="x-small", framealpha=0.85)
    zoom.set_title(f"where they end (star: minimum {data.minimum})")
    for panel in (paths, zoom):
        panel.set_xlabel("x")
        panel.set_ylabel("y")
    keep = [
        (w, d) for w, d in zip(data.curve_wd, data.curve_distance, strict=True) if w > 0 and d > 0
    ]
    if keep:
        curve.plot(
            *zip(*keep, strict=True),
            color="black",
            linewidth=1.5,
            label=f"fixed point ({data.equation})",
        )
    colors = {w: line.color for (w, _, _), line in zip(data.fixed, data.lines, strict=True)}
    for w, d in data.measured:
        if w > 0 and d > 0:
            curve.plot(
                w,
                d,
                marker="o",
                color=colors.get(w, "black"),
                markeredgecolor="black",
                markersize=8,
                linestyle="none",
            )
    curve.plot(
        [],
        [],
        marker="o",
        color="gray",
        markeredgecolor="black",
        linestyle="none",
        label="end of the path",
    )
    positive = [(w, d) for w, d in data.measured if w > 0 and d > 0]
    if keep or positive:
        curve.set_xscale("log")
        curve.set_yscale("log")
    else:  # log axes need a positive point: say why the panel is empty instead
        curve.text(
            0.5,
            0.5,
            "no positive distance to draw on log axes\n(the decay does not move the minimum,\n"
            "or every decayed path diverged)",
            transform=curve.transAxes,
            ha="center",
            va="center",
            fontsize="small",
        )
    curve.set_xlabel("weight decay")
    curve.set_ylabel("distance from the minimum")
    curve.set_title("distance from the minimum")
    curve.grid(True, which="both", alpha=0.3)
    curve.legend(fontsize="small", loc="upper left")
    if data.title:
        fig.suptitle(data.title)
    return fig


@dataclass(frozen=True)
class HeatmapData:
    """A sensitivity map: cells on two hyperparameter axes.

    Attributes:
        x_name, y_name: the hyperparameters on the axes.
        x_values, y_values: their values (columns and rows).
        x_log, y_log: logarithmic axes.
        final_distance: distance from the last position to the nearest minimum,
            ``(len(y_values), len(x_values))``; NaN where the run diverged.
        distance_floor: the floor of the log colour scale: the smallest positive final
            distance (``tol`` when no cell has one).
        shown_distance: ``final_distance`` as coloured: a distance of exactly 0 (the best a
            cell can do, which a log scale cannot show) raised to ``distance_floor``; NaN only
            where the run diverged.
        reached_step: first step within ``tol`` of a minimum; NaN where never.
        diverged: whether the cell's run diverged.
        tol: the tolerance for ``reached_step``.
        steps: steps per cell.
        title: figure title.
    """

    x_name: str
    y_name: str
    x_values: tuple[float, ...]
    y_values: tuple[float, ...]
    x_log: bool
    y_log: bool
    final_distance: np.ndarray
    reached_step: np.ndarray
    diverged: np.ndarray
    tol: float
    steps: int
    distance_floor: float
    shown_distance: np.ndarray
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        def clean(array: np.ndarray) -> list[list[float | None]]:
            return [[None if not math.isfinite(v) else float(v) for v in row] for row in array]

        return {
            "x_name": self.x_name,
            "y_name": self.y_name,
            "x_values": list(self.x_values),
            "y_values": list(self.y_values),
            "x_log": self.x_log,
            "y_log": self.y_log,
            "final_distance": clean(self.final_distance),
            "distance_floor": self.distance_floor,
            "shown_distance": clean(self.shown_distance),
            "reached_step": clean(self.reached_step),
            "diverged": self.diverged.tolist(),
            "tol": self.tol,
            "steps": self.steps,
            "title": self.title,
        }


def build_heatmap(
    x_name: str,
    x_values: Sequence[float],
    y_name: str,
    y_values: Sequence[float],
    final_distance: np.ndarray,
    reached_step: np.ndarray,
    diverged_step: np.ndarray,
    *,
    tol: float,
    steps: int,
    x_log: bool,
    y_log: bool,
    title: str = "",
) -> HeatmapData:
    """Arrange C = len(x) * len(y) cells (row-major: y outer, x inner) on a grid, with both
    axes in increasing order (cells are reordered with their values).

    Args:
        x_name, x_values: the hyperparameter on the x-axis and its values.
        y_name, y_values: the one on the y-axis.
        final_distance: ``(C,)`` final distances (NaN for diverged cells).
        reached_step: ``(C,)`` first step within ``tol`` (-1 for never).
        diverged_step: ``(C,)`` step of divergence (-1 for none).
        tol: the tolerance.
        steps: steps per cell.
        x_log, y_log: draw the axis on a log scale (the axis says so; values are not read
            for it).
        title: figure title.

    Raises:
        ValueError: when an axis repeats a value, or a log axis holds a value <= 0.
    """
    shape = (len(y_values), len(x_values))
    for name, values in ((x_name, x_values), (y_name, y_values)):
        if len(set(values)) != len(values):
            raise ValueError(f"{name} values repeat ({list(values)}); each cell needs its own")
    for name, values, log in ((x_name, x_values, x_log), (y_name, y_values, y_log)):
        if log and min(values) <= 0:
            raise ValueError(f"{name} is a log axis but holds {min(values)!r}; values must be > 0")
    # cells in increasing order on both axes, so cell edges increase with their values
    columns, rows = np.argsort(x_values, kind="stable"), np.argsort(y_values, kind="stable")

    def arrange(cells: np.ndarray, dtype: Any) -> np.ndarray:
        return np.asarray(cells, dtype=dtype).reshape(shape)[rows][:, columns]

    reached = arrange(reached_step, np.float64)
    reached[reached < 0] = np.nan
    distance = arrange(final_distance, np.float64)
    diverged = arrange(diverged_step, np.int64) >= 0
    positive = distance[~diverged & (distance > 0)]
    floor = float(positive.min()) if positive.size else float(tol)
    # 0 is the best distance there is, not a missing one: the log scale shows it at its floor
    shown = np.where(diverged, np.nan, np.maximum(distance, floor))
    return HeatmapData(
        x_name=x_name,
        y_name=y_name,
        x_values=tuple(float(x_values[i]) for i in columns),
        y_values=tuple(float(y_values[i]) for i in rows),
        x_log=x_log,
        y_log=y_log,
        final_distance=distance,
        reached_step=reached,
        diverged=diverged,
        tol=tol,
        steps=steps,
        distance_floor=floor,
        shown_distance=shown,
        title=title,
    )


def _edges(values: Sequence[float], log: bool) -> np.ndarray:
    """Cell edges halfway between increasing values (in log space for a log axis).

    A single value gets a cell a fifth of its size wide (a factor of 1.25 each way on a log
    axis; ±0.5 around 0), so an lr of 0.05 does not spread from -0.45 to 0.55.
    """
    v = np.log10(np.asarray(values, dtype=np.float64)) if log else np.asarray(values, np.float64)
    if len(v) == 1:
        half = math.log10(1.25) if log else (0.1 * abs(float(v[0])) or 0.5)
        edges = np.array([v[0] - half, v[0] + half])
    else:
        middle = (v[1:] + v[:-1]) / 2
        edges = np.concatenate(
            [[v[0] - (middle[0] - v[0])], middle, [v[-1] + (v[-1] - middle[-1])]]
        )
    return np.asarray(10**edges if log else edges)


def render_heatmap(data: HeatmapData, *, ax: Sequence[Axes] | None = None) -> Figure:
    """Two maps over the same axes: final distance to the minimum (log color) and steps to
    reach the tolerance; diverged cells are red in both, cells that never reach it are grey.

    Args:
        data: from :func:`build_heatmap`.
        ax: ``None`` for a new figure, or two axes of one figure to draw the maps into.

    Raises:
        ConfigError: when ``ax`` is not two axes.
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.patches import Patch

    fig, (left, right) = panel_axes(ax, 2, (13.5, 5.2))
    X, Y = _edges(data.x_values, data.x_log), _edges(data.y_values, data.y_log)
    # only diverged cells are masked (drawn in the "bad" colour); zeros sit at the floor
    distance = np.ma.masked_where(data.diverged, data.shown_distance)
    finite = distance.compressed()
    top = max(float(finite.max()), data.distance_floor) if finite.size else data.distance_floor
    norm = LogNorm(vmin=data.distance_floor, vmax=top) if finite.size else None
    cmap_d = colormaps["viridis"].with_extremes(bad=DIVERGED_COLOR)
    mesh = left.pcolormesh(X, Y, distance, cmap=cmap_d, norm=norm, shading="flat")
    fig.colorbar(mesh, ax=left, label="final distance to the minimum")
    reached = np.ma.masked_invalid(data.reached_step)
    cmap_r = colormaps["magma_r"].with_extremes(bad=NEVER_COLOR)
    mesh_r = right.pcolormesh(X, Y, reached, cmap=cmap_r, shading="flat")
    fig.colorbar(mesh_r, ax=right, label=f"steps to within {data.tol:g} of a minimum")
    diverged = np.ma.masked_where(~data.diverged, np.ones_like(data.reached_step))
    right.pcolormesh(X, Y, diverged, cmap=ListedColormap([DIVERGED_COLOR]), shading="flat")
    for panel, title in ((left, "final distance"), (right, "steps to reach the tolerance")):
        if data.x_log:
            panel.set_xscale("log")
        if data.y_log:
            panel.set_yscale("log")
        panel.set_xlabel(data.x_name)
        panel.set_ylabel(data.y_name)
        panel.set_title(title)
    handles = [
        Patch(color=DIVERGED_COLOR, label="diverged"),
        Patch(color=NEVER_COLOR, label="never"),
    ]
    right.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.85)
    left.legend(handles=handles[:1], loc="upper right", fontsize="small", framealpha=0.85)
    if data.title:
        fig.suptitle(data.title)
    return fig
