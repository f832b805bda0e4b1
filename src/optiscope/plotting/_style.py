"""What every optiscope figure shares: pyplot figures, ordered colours, edge markers, axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optiscope.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "EDGE",
    "close_figure",
    "draw_divergence_crosses",
    "draw_note",
    "draw_off_scale_arrow",
    "finish_axes",
    "new_axes",
    "new_figure",
    "palette",
    "panel_axes",
]


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A new figure, made through pyplot as pandas and seaborn make theirs.

    Registered with pyplot, so ``plt.show()`` and ``fig.show()`` show it in a plain script,
    and a notebook's inline backend draws it. Whoever only writes it to a file closes it
    (:func:`optiscope.plotting.save_figure` with ``close=True``), so a command that draws many
    figures leaves none open.
    """
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def close_figure(fig: Figure) -> None:
    """Forget ``fig`` in pyplot (it can still be saved; it is no longer shown)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (8, 4.8)) -> tuple[Figure, Axes]:
    """The figure and axes to draw into: ``ax``'s, or a new figure's (:func:`new_figure`)."""
    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


def panel_axes(
    ax: Axes | Sequence[Axes] | None, count: int, figsize: tuple[float, float], **subplots: Any
) -> tuple[Figure, list[Axes]]:
    """The figure and ``count`` axes side by side to draw a multi-panel figure into.

    Args:
        ax: ``None`` (a new figure with ``count`` panels in a row), or exactly ``count`` axes
            of one figure (one :class:`~matplotlib.axes.Axes` when ``count`` is 1).
        count: panels the figure has.
        figsize: size of a new figure.
        subplots: passed to ``Figure.subplots`` for a new figure.

    Raises:
        ConfigError: when ``ax`` is not ``count`` axes.
    """
    from matplotlib.axes import Axes

    if ax is None:
        fig = new_figure(figsize)
        return fig, list(fig.subplots(1, count, squeeze=False, **subplots)[0])
    given = [ax] if isinstance(ax, Axes) else list(ax)
    if len(given) != count or not all(isinstance(a, Axes) for a in given):
        raise ConfigError(
            f"this figure has {count} panel{'s' if count != 1 else ''}, so ax= takes "
            f"{'one Axes' if count == 1 else f'a sequence of {count} Axes'}; got "
            f"{_describe(ax)}. Pass ax=None for a new figure, or "
            f"`fig, axes = plt.subplots(1, {count})` and ax=axes."
        )
    return given[0].get_figure(), given  # type: ignore[return-value]


def _describe(ax: Any) -> str:
    if isinstance(ax, Sequence):
        return f"{len(ax)} item{'s' if len(ax) != 1 else ''}"
    return f"a {type(ax).__name__}"


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
    note: str = "",
    x_limits: tuple[float, float] | None = None,
) -> None:
    """Scales, limits, labels, title, grid and note, the same way on every curve figure.

    ``y_limits`` is ``None`` when nothing finite was drawn (every run diverged or failed):
    the axes then get ``note`` in their middle, no y-ticks and a linear y-axis (a logarithmic
    axis of no data cannot be drawn), and ``x_limits`` around the divergence crosses.
    """
    from matplotlib.ticker import MaxNLocator

    if log_x:
        ax.set_xscale("log")
    elif x != "seconds":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if y_limits is not None:
        if log_y:
            ax.set_yscale("log")
        ax.set_ylim(*y_limits)
    else:
        ax.set_yticks([])  # there is no y-range: nothing finite was drawn
    if x_limits is not None:
        ax.set_xlim(*x_limits)
    draw_note(ax, note)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
