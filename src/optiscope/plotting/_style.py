"""What every optiscope figure shares: bare figures, ordered colours, edge markers, axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "EDGE",
    "draw_divergence_crosses",
    "draw_note",
    "draw_off_scale_arrow",
    "finish_axes",
    "new_axes",
    "palette",
]


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (8, 4.8)) -> tuple[Figure, Axes]:
    """The figure and axes to draw into: ``ax``'s, or a new bare figure.

    A bare ``Figure`` (not pyplot): nothing global to leak, and Jupyter shows a returned
    figure once instead of twice.
    """
    from matplotlib.figure import Figure

    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def palette(count: int) -> list[Any]:
    """``count`` colours in order along viridis, so ordered values read as ordered colours."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.9 * index / max(count - 1, 1)) for index in range(count)]


EDGE = 0.965
"""Where edge markers sit, as a fraction of the axes' height: just inside the top edge, so
they never run into the title."""


def draw_off_scale_arrow(ax: Axes, x: float, color: Any) -> None:
    """An arrow up to the top edge at ``x``: a line leaves the axes there."""
    ax.annotate(
        "",
        xy=(x, 1.0),
        xytext=(x, EDGE - 0.06),
        xycoords=("data", "axes fraction"),
        arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.5},
        annotation_clip=False,
    )


def draw_divergence_crosses(ax: Axes, xs: Sequence[float], color: Any) -> None:
    """Crosses just inside the top edge at each ``x`` where a run's loss became NaN or inf
    (they need no y-range: they are drawn even when no run has a finite value)."""
    if xs:
        ax.plot(
            list(xs),
            [EDGE] * len(xs),
            transform=ax.get_xaxis_transform(),
            marker="X",
            color=color,
            markersize=10,
            clip_on=False,
            linestyle="none",
        )


def draw_note(ax: Axes, note: str) -> None:
    """A sentence in the middle of the axes, for a figure with no line to draw."""
    if note:
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", wrap=True)


def finish_axes(
    ax: Axes,
    *,
    x: str,
    x_label: str,
    y_label: str,
    y_limits: tuple[float, float] | None,
    log_x: bool = False,
    log_y: bool = False,
    title: str = "",
) -> None:
    """Scales, limits, labels, title and grid, the same way on every curve figure."""
    from matplotlib.ticker import MaxNLocator

    if log_x:
        ax.set_xscale("log")
    elif x != "seconds":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_y:
        ax.set_yscale("log")
    if y_limits is not None:
        ax.set_ylim(*y_limits)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
