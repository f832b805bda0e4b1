"""A race as an animated GIF: the paths grow step by step on the contour plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from optiscope.errors import ConfigError
from optiscope.plotting._landscapes import RaceData, _outline, draw_surface

__all__ = ["save_race_animation"]


def _frame_steps(steps: int, frames: int) -> list[int]:
    """Which step each frame shows: denser at the start, where paths move most."""
    frames = max(2, min(frames, steps + 1))
    shown = np.unique(np.round(np.geomspace(1, steps + 1, frames)).astype(int) - 1)
    return [int(s) for s in shown]


def save_race_animation(
    data: RaceData,
    path: str | Path,
    *,
    frames: int = 48,
    fps: int = 12,
    dpi: int = 72,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the race as an animated GIF: the paths grow step by step on the contour plot.

    Args:
        data: from :func:`build_race`.
        path: a ``.gif`` file.
        frames: the most frames (spaced more densely at the start; steps that round to the
            same frame are drawn once, so a short race has fewer).
        fps: frames per second.
        dpi: resolution; the default keeps the file small.
        progress: called as ``progress(frame_number, total_frames)`` after each frame.

    Returns:
        The path written.

    Raises:
        ConfigError: for a file name that does not end in ``.gif``, or ``frames`` < 2,
            ``fps`` < 1 or ``dpi`` < 1 (or any of them not a whole number).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    for name, value, low in (("frames", frames, 2), ("fps", fps, 1), ("dpi", dpi, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} = {value!r} must be a whole number >= {low}.")
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ConfigError(f"cannot write an animation to {path.name!r}: use a name ending in .gif.")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A bare Figure, not pyplot's: its frames only go into the file, it is never shown.
    fig = Figure(figsize=(5.6, 4.6), layout="constrained")
    fig.set_dpi(dpi)
    ax = fig.add_subplot()
    draw_surface(ax, data.surface, colorbar=False)
    ax.plot(
        *data.start,
        marker="o",
        color="white",
        markeredgecolor="black",
        markersize=8,
        linestyle="none",
        zorder=6,
    )
    ax.set_title(data.surface.title, fontsize="medium")
    artists = []
    for line in data.lines:
        (trail,) = ax.plot(
            [],
            [],
            color=line.color,
            linewidth=1.8,
            label=line.legend,
            path_effects=_outline(1.8),
            zorder=3,
        )
        (head,) = ax.plot(
            [],
            [],
            marker="o",
            color=line.color,
            markeredgecolor="black",
            markersize=6,
            linestyle="none",
            zorder=4,
        )
        artists.append((line, trail, head))
    ax.legend(loc="upper left", fontsize="x-small", framealpha=0.85)
    counter = ax.text(
        0.98,
        0.02,
        "",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        color="white",
        fontsize="small",
        bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none"},
    )
    shown = _frame_steps(data.steps, frames)

    # The contour plot, axes and legend never change: draw them once, then per frame restore
    # that background and draw only the moving artists on it (matplotlib's blitting).
    moving = [a for _, trail, head in artists for a in (trail, head)] + [counter]
    for artist in moving:
        artist.set_animated(True)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for frame, step in enumerate(shown):
        canvas.restore_region(background)
        for line, trail, head in artists:
            upto = min(step + 1, len(line.x))
            trail.set_data(line.x[:upto], line.y[:upto])
            head.set_data(line.x[upto - 1 : upto], line.y[upto - 1 : upto])
            if line.status == "diverged" and step + 1 > len(line.x):
                head.set_marker("X")
        counter.set_text(f"step {step}")
        for artist in moving:
            ax.draw_artist(artist)
        width, height = canvas.get_width_height()
        images.append(Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba()).copy())
        if progress is not None:
            progress(frame, len(shown))
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
    )
    return path
