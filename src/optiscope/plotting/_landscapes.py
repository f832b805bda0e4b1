"""Paths on a 2-D function: data first (``build_*``), pixels second (``render_*``).

:func:`build_surface` samples a landscape on a grid and picks contour levels;
:func:`build_paths` turns trajectories into lines with their start, end and divergence.
:func:`render_path` draws one path the way the course exercise does (filled contours, darker is
lower, a red path); :func:`render_race` draws several paths beside a value-per-step panel.
The animated GIF is in ``_animation.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optiscope.landscapes import Landscape, Point
from optiscope.plotting._style import new_axes, new_figure, panel_axes
from optiscope.records import Trajectory

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PATH_COLORS",
    "PathLine",
    "RaceData",
    "SurfaceData",
    "build_paths",
    "build_race",
    "build_surface",
    "draw_surface",
    "render_path",
    "render_race",
    "render_surface",
]

#: Path colors, readable on the dark valleys of the contour plot and on white.
PATH_COLORS: tuple[str, ...] = (
    "#ff3b30",
    "#ff9f0a",
    "#00c7ff",
    "#ff2dc0",
    "#30d158",
    "#ffd60a",
    "#bf5af2",
    "#ffffff",
)

# Contour levels switch to a log scale (of the value above the minimum) when the median of the
# grid sits this far below its maximum: a linear scale would paint nearly everything one color.
LOG_LEVELS_RATIO = 5.0


@dataclass(frozen=True)
class SurfaceData:
    """A landscape sampled on a grid, with contour levels.

    Attributes:
        title: the landscape's label (``Rosenbrock (a=1, b=2)``).
        x, y: grid coordinates, ``(n,)`` each.
        z: values, ``(n, n)``; rows follow y.
        levels: filled-contour boundaries, increasing.
        log_levels: whether the levels are spaced logarithmically above the minimum.
        minima: the global minima.
        domain: ``((x_low, x_high), (y_low, y_high))``.
    """

    title: str
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    levels: tuple[float, ...]
    log_levels: bool
    minima: tuple[Point, ...]
    domain: tuple[Point, Point]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "z": self.z.tolist(),
            "levels": list(self.levels),
            "log_levels": self.log_levels,
            "minima": [list(m) for m in self.minima],
            "domain": [list(d) for d in self.domain],
        }


def build_surface(
    landscape: Landscape,
    *,
    n: int = 200,
    domain: tuple[Point, Point] | None = None,
    levels: int = 12,
    log_levels: bool | None = None,
) -> SurfaceData:
    """Sample ``landscape`` on an ``n`` x ``n`` grid and choose filled-contour levels.

    Args:
        landscape: the function.
        n: grid points per axis.
        domain: the window; default the landscape's.
        levels: number of bands.
        log_levels: space levels logarithmically above the minimum; ``None`` decides from the
            values (see :data:`LOG_LEVELS_RATIO`).

    Returns:
        The grid, the levels and the minima.
    """
    domain = domain or landscape.domain
    X, Y, Z = landscape.grid(n, domain)
    low, high = float(Z.min()), float(Z.max())
    if high <= low:
        high = low + 1.0
    if log_levels is None:
        median = float(np.median(Z))
        log_levels = (high - low) > LOG_LEVELS_RATIO * max(median - low, 1e-300)
    if log_levels:
        span = high - low
        bounds = low + np.geomspace(span * 1e-4, span, levels)
        level_values = (low, *bounds.tolist())
    else:
        level_values = tuple(np.linspace(low, high, levels + 1).tolist())
    return SurfaceData(
        title=landscape.label,
        x=X[0].copy(),
        y=Y[:, 0].copy(),
        z=Z,
        levels=tuple(float(v) for v in level_values),
        log_levels=log_levels,
        minima=landscape.minima,
        domain=domain,
    )


@dataclass(frozen=True)
class PathLine:
    """One optimizer's path.

    Attributes:
        label: the optimizer's label.
        x, y: its positions (finite ones only; position 0 is the start).
        step: step number of each value in ``gap``.
        gap: value minus the global minimum value, per step (for a log-scale panel, only
            positive gaps are kept).
        status: ``done`` or ``diverged``.
        diverged_step: the step whose value was not finite, or ``None``.
        color: its color.
    """

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    step: tuple[int, ...]
    gap: tuple[float, ...]
    status: str
    diverged_step: int | None
    color: str

    @property
    def legend(self) -> str:
        if self.status == "diverged":
            return f"{self.label} (diverged at step {self.diverged_step})"
        return self.label

    @property
    def end(self) -> Point | None:
        return (self.x[-1], self.y[-1]) if self.x else None


@dataclass(frozen=True)
class RaceData:
    """Everything a race figure needs.

    Attributes:
        surface: the landscape on a grid.
        lines: one per optimizer, in legend order.
        start: the common start.
        steps: steps each optimizer ran (unless it diverged).
        title: figure title.
    """

    surface: SurfaceData
    lines: tuple[PathLine, ...]
    start: Point
    steps: int
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "surface": self.surface.to_dict(),
            "start": list(self.start),
            "steps": self.steps,
            "title": self.title,
            "lines": [
                {
                    "label": line.label,
                    "legend": line.legend,
                    "x": list(line.x),
                    "y": list(line.y),
                    "step": list(line.step),
                    "gap": list(line.gap),
                    "status": line.status,
                    "diverged_step": line.diverged_step,
                    "color": line.color,
                }
                for line in self.lines
            ],
        }


def build_paths(
    trajectories: Sequence[Trajectory], landscape: Landscape, *, colors: Sequence[str] = ()
) -> tuple[PathLine, ...]:
    """Lines for trajectories, with per-step gaps to the minimum value.

    Args:
        trajectories: the paths, in legend order.
        landscape: the function they ran on (for its minimum value).
        colors: one color per path; default :data:`PATH_COLORS` in turn.
    """
    palette = list(colors) or list(PATH_COLORS)
    lines = []
    for index, path in enumerate(trajectories):
        gaps = [
            (step, value - landscape.min_value)
            for step, value in enumerate(path.value)
            if math.isfinite(value) and value - landscape.min_value > 0
        ]
        lines.append(
            PathLine(
                label=path.label,
                x=tuple(path.x),
                y=tuple(path.y),
                step=tuple(s for s, _ in gaps),
                gap=tuple(g for _, g in gaps),
                status=path.status,
                diverged_step=path.diverged_step,
                color=palette[index % len(palette)],
            )
        )
    return tuple(lines)


def _window_holding(domain: tuple[Point, Point], points: Sequence[Point]) -> tuple[Point, Point]:
    """``domain`` widened on each side that ``points`` fall outside, with a 5% margin."""
    sides = []
    for axis, (low, high) in enumerate(domain):
        values = [p[axis] for p in points if math.isfinite(p[axis])]
        new_low, new_high = min([low, *values]), max([high, *values])
        margin = 0.05 * (new_high - new_low)
        sides.append(
            (
                new_low - margin if new_low < low else low,
                new_high + margin if new_high > high else high,
            )
        )
    return (sides[0], sides[1])


def build_race(
    trajectories: Sequence[Trajectory],
    landscape: Landscape,
    *,
    start: Point,
    steps: int,
    title: str = "",
    domain: tuple[Point, Point] | None = None,
    n: int = 200,
) -> RaceData:
    """Plain data for a race figure: the surface and one line per trajectory.

    Without ``domain`` the window is the landscape's, widened (with a 5% margin) to hold the
    start and every path's first position, so a start outside it is still drawn.
    """
    if domain is None:
        starts = [start, *((t.x[0], t.y[0]) for t in trajectories if t.x)]
        domain = _window_holding(landscape.domain, starts)
    return RaceData(
        surface=build_surface(landscape, n=n, domain=domain),
        lines=build_paths(trajectories, landscape),
        start=start,
        steps=steps,
        title=title,
    )


def draw_surface(ax: Axes, surface: SurfaceData, *, colorbar: bool = True) -> None:
    """Filled contours, darker is lower (viridis), with the minima as white stars."""
    from matplotlib.colors import BoundaryNorm

    cmap = "viridis"
    norm = BoundaryNorm(surface.levels, ncolors=256)
    filled = ax.contourf(
        surface.x, surface.y, surface.z, levels=surface.levels, cmap=cmap, norm=norm
    )
    if colorbar:
        bar = ax.get_figure().colorbar(filled, ax=ax, shrink=0.9, format="%.3g")  # type: ignore[union-attr]
        bar.set_label("f(x, y)" + (" (log-spaced levels)" if surface.log_levels else ""))
        bar.ax.tick_params(labelsize="small")
    for mx, my in surface.minima:
        ax.plot(
            mx,
            my,
            marker="*",
            color="white",
            markeredgecolor="black",
            markersize=14,
            linestyle="none",
            zorder=5,
        )
    (x_low, x_high), (y_low, y_high) = surface.domain
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)


def render_surface(
    surface: SurfaceData, *, title: str = "", x_label: str = "x", y_label: str = "y"
) -> Figure:
    """The landscape alone: filled contours, darker is lower, minima as stars."""
    fig = new_figure((6.4, 5.2))
    ax = fig.add_subplot()
    draw_surface(ax, surface)
    ax.set_title(title or surface.title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    return fig


def _outline(width: float) -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width + 1.6, foreground="black")]


def _draw_line(ax: Axes, line: PathLine, upto: int | None = None, *, width: float = 1.8) -> None:
    xs, ys = line.x[:upto], line.y[:upto]
    if not xs:
        if upto is None:  # no finite position at all (diverged at step 0): still in the legend
            ax.plot([], [], color=line.color, linewidth=width, marker="X", label=line.legend)
        return
    ax.plot(
        xs,
        ys,
        color=line.color,
        linewidth=width,
        label=line.legend,
        zorder=3,
        path_effects=_outline(width),
    )
    marker = "X" if line.status == "diverged" and (upto is None or upto >= len(line.x)) else "o"
    ax.plot(
        xs[-1],
        ys[-1],
        marker=marker,
        color=line.color,
        markeredgecolor="black",
        markersize=8 if marker == "X" else 6,
        linestyle="none",
        zorder=4,
    )


def render_path(
    data: RaceData,
    *,
    title: str = "Optimization Path on Rosenbrock Function",
    ax: Axes | None = None,
) -> Figure:
    """One path in the exercise's style: filled contours, a red path, start, end and minimum.

    Args:
        data: from :func:`build_race` with one trajectory.
        title: the exercise's title by default.
        ax: axes to draw into; ``None`` makes a new figure.
    """
    fig, ax = new_axes(ax, (6.4, 5.2))
    draw_surface(ax, data.surface)
    for line in data.lines:
        xs, ys = line.x, line.y
        if not xs:  # diverged at step 0: nothing finite to draw, but say so
            ax.plot([], [], marker="X", color="red", linestyle="none", label=line.legend)
            continue
        ax.plot(xs, ys, color="red", linewidth=1.6, zorder=3)
        ax.plot(
            xs[0],
            ys[0],
            marker="o",
            color="white",
            markeredgecolor="black",
            markersize=8,
            linestyle="none",
            zorder=4,
            label=f"start ({xs[0]:g}, {ys[0]:g})",
        )
        end = f"end ({xs[-1]:.3f}, {ys[-1]:.3f})"
        if line.status == "diverged":
            end = f"last finite point before divergence at step {line.diverged_step}"
        ax.plot(
            xs[-1],
            ys[-1],
            marker="s",
            color="red",
            markeredgecolor="black",
            markersize=7,
            linestyle="none",
            zorder=4,
            label=end,
        )
    minima = ", ".join(f"({mx:g}, {my:g})" for mx, my in data.surface.minima)
    ax.plot(
        [],
        [],
        marker="*",
        color="white",
        markeredgecolor="black",
        markersize=12,
        linestyle="none",
        label=f"minimum {minima}",
    )
    ax.set_title(title)
    ax.set_xlabel("X-axis")
    ax.set_ylabel("Y-axis")
    ax.legend(loc="lower right", fontsize="small", framealpha=0.85)
    return fig


def render_race(
    data: RaceData, *, value_panel: bool = True, ax: Axes | Sequence[Axes] | None = None
) -> Figure:
    """Paths on the contour plot and, beside it, the value above the minimum per step (log).

    A diverged path is drawn up to its last finite position, ends with a cross, and says
    ``diverged at step k`` in the legend; its value line stops there.

    Args:
        data: from :func:`build_race`.
        value_panel: draw the value-per-step panel.
        ax: ``None`` for a new figure; else the axes to draw into: two (map, values) with
            the value panel, one without it.

    Raises:
        ConfigError: when ``ax`` is not as many axes as the figure has panels.
    """
    # Room between the map's colour bar label and the value panel's label.
    fig, axes = panel_axes(
        ax,
        2 if value_panel else 1,
        (12.5 if value_panel else 6.8, 5.2),
        gridspec_kw={"wspace": 0.12},
    )
    ax = axes[0]
    draw_surface(ax, data.surface)
    for line in data.lines:
        _draw_line(ax, line)
    ax.plot(
        *data.start,
        marker="o",
        color="white",
        markeredgecolor="black",
        markersize=9,
        linestyle="none",
        zorder=6,
        label=f"start {data.start}",
    )
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(data.surface.title)
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    if value_panel:
        values = axes[1]
        for line in data.lines:
            if line.gap:
                values.plot(
                    line.step,
                    line.gap,
                    color=line.color,
                    linewidth=1.6,
                    label=line.legend,
                    path_effects=_outline(1.6) if line.color == "#ffffff" else None,
                )
            if line.status == "diverged" and line.diverged_step is not None:
                values.axvline(line.diverged_step, color=line.color, linestyle=":", linewidth=1.2)
        values.set_yscale("log")
        values.set_xlim(0, max(data.steps, 1))
        values.set_xlabel("step")
        values.set_ylabel("f(x, y) - f*  (log scale)")
        values.set_title("value above the minimum")
        values.grid(True, which="major", alpha=0.3)
    if data.title:
        fig.suptitle(data.title)
    return fig
