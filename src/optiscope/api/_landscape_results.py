"""``PathResult``: one optimizer's path on a landscape, as the exercise's table and figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.landscapes import Landscape, Point
from optiscope.plotting import build_race, figure_html, figure_png, render_path, save_figure
from optiscope.records import Trajectory

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PathResult"]


class PathResult:
    """One path: every position from the start, with the function's value there.

    Attributes:
        landscape: the function.
        trajectory: the path (a :class:`~optiscope.records.Trajectory`).
        start: the first position.
        steps: steps asked for (fewer positions if the path diverged).
        settings: the optimizer's settings, for titles and tables.
        title: the figure's title.
    """

    def __init__(
        self,
        landscape: Landscape,
        trajectory: Trajectory,
        *,
        start: Point,
        steps: int,
        settings: dict[str, Any] | None = None,
        title: str = "Optimization Path on Rosenbrock Function",
    ) -> None:
        self.landscape = landscape
        self.trajectory = trajectory
        self.start = start
        self.steps = steps
        self.settings = dict(settings or {})
        self.title = title

    @property
    def frame(self) -> pd.DataFrame:
        """The exercise's trajectory table, filled in: columns ``step``, ``x``, ``y``, ``value``.

        Row 0 is the start; a finished path has ``steps + 1`` rows. (The exercise's test code
        leaves ``value`` at 0 and overwrites its first row; here every row is the position
        after that many steps.)
        """
        import numpy as np
        import pandas as pd

        path = self.trajectory
        return pd.DataFrame(
            {
                "step": np.arange(len(path.x)),
                "x": np.asarray(path.x, dtype=np.float64),
                "y": np.asarray(path.y, dtype=np.float64),
                "value": np.asarray(path.value, dtype=np.float64),
            }
        )

    @property
    def status(self) -> str:
        """``done``, or ``diverged`` when a value was not finite."""
        return self.trajectory.status

    @property
    def final(self) -> Point:
        """The last position (the last finite one for a diverged path; NaN when it diverged
        at step 0 and has none)."""
        if not self.trajectory.x:
            return (math.nan, math.nan)
        return (self.trajectory.x[-1], self.trajectory.y[-1])

    @property
    def distance(self) -> float:
        """Distance from the last position to the nearest minimum (NaN if it diverged)."""
        if self.status != "done":
            return math.nan
        return float(self.landscape.distance_to_minimum(*self.final))

    def plot(self, *, domain: tuple[Point, Point] | None = None, ax: Axes | None = None) -> Figure:
        """The path on the filled contour plot (darker is lower), with the start, the end and
        the true minimum marked, titled as in the exercise.

        Args:
            domain: plotting window ``((x_low, x_high), (y_low, y_high))``.
            ax: matplotlib axes to draw into; ``None`` makes a new figure.

        Returns:
            The matplotlib Figure (``ax``'s when given).
        """
        data = build_race(
            [self.trajectory], self.landscape, start=self.start, steps=self.steps, domain=domain
        )
        return render_path(data, title=self.title, ax=ax)

    def save(self, path: str | Path, **plot_options: Any) -> Path:
        """Save :meth:`plot` as PNG, SVG or PDF (by suffix); returns the path."""
        return save_figure(self.plot(**plot_options), path, close=True)

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def _repr_html_(self) -> str:
        return figure_html(self.plot(), self.frame, title=repr(self))

    def __repr__(self) -> str:
        x, y = self.final
        where = f"ends at ({x:.4f}, {y:.4f})"
        if self.status == "diverged":
            where = f"diverged at step {self.trajectory.diverged_step}"
        what = f"{self.trajectory.label} on {self.landscape.label}"
        return f"PathResult({what}, {self.steps} steps, {where})"
