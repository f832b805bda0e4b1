"""``sensitivity_map``: how the end of a 2-D run depends on two hyperparameters.

Every cell of the map is one run from the same start. All cells run as one batched tensor
computation: the positions are a ``(C, 2)`` tensor and the optimizer's vectorized update takes
each cell's hyperparameters as a per-config column, so a 64 x 64 map of 1,000 steps takes
seconds, and each cell equals the run :func:`optiscope.race` would do for its settings.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from optiscope.api._landscape_common import (
    LandscapeArg,
    check_dtype,
    check_one_decay,
    check_start,
    check_start_value,
    check_steps,
    check_tol,
    progress_bar,
    resolve_landscape,
    resolve_optimizers,
)
from optiscope.api._map_cells import check_names, grid_cells
from optiscope.engine import GridRun, PathOptimizer, batched_names, format_hparams, run_grid
from optiscope.errors import ConfigError
from optiscope.grammar import Axis
from optiscope.landscapes import Landscape, Point
from optiscope.plotting import build_heatmap, figure_html, figure_png, render_heatmap, save_figure
from optiscope.settings import BETA_PARTS

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LOG_AXIS_SPAN", "MAX_CELLS", "SensitivityMap", "sensitivity_map"]

#: The most cells one map may have. All cells run as one batched computation whose state and
#: per-step temporaries grow with the number of cells (tens of floats per cell, times the
#: steps when paths are recorded), and the time grows with it too: a 64 x 64 map of 1,000
#: steps takes under a second on one core, so 512 x 512 takes under a minute. Beyond that a
#: map is better split into several.
MAX_CELLS = 512 * 512


#: An axis given as a plain list is drawn logarithmically when its values are positive and
#: span at least this ratio (two decades); an :class:`~optiscope.grammar.Axis` says it itself.
LOG_AXIS_SPAN = 100.0


def _axis(name: Any, values: Any, log: bool | None = None) -> Axis:
    """A checked axis, its values increasing (so the map's cells sit in order on it)."""
    if not isinstance(name, str):
        raise ConfigError(f"grid key {name!r} must be a hyperparameter name such as 'lr'.")
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, int | float) or not isinstance(values, Sequence) or not values:
        raise ConfigError(
            f"grid[{name!r}] = {values!r} must be a non-empty list of numbers, "
            f"e.g. grid={{'{name}': [0.001, 0.01, 0.1], ...}}."
        )
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(
                f"grid[{name!r}] holds {value!r}; every value must be a finite number."
            )
    numbers = sorted(float(v) for v in values)
    repeated = sorted(v for v, n in Counter(numbers).items() if n > 1)
    if repeated:
        raise ConfigError(
            f"grid[{name!r}] repeats {', '.join(f'{v:g}' for v in repeated)}; give each value "
            "once (two cells with the same settings are the same run)."
        )
    if log is None:
        log = numbers[0] > 0 and numbers[-1] >= LOG_AXIS_SPAN * numbers[0]
    elif log and numbers[0] <= 0:
        raise ConfigError(f"grid[{name!r}] is a log axis but holds {numbers[0]:g}; use values > 0.")
    return Axis(name, tuple(numbers), log)


def _axes(grid: Any) -> tuple[Axis, Axis]:
    """The grid's two axes: from ``{name: values}`` or from two :class:`Axis` objects."""
    if isinstance(grid, Mapping) and len(grid) == 2:
        x, y = (_axis(name, values) for name, values in grid.items())
        return x, y
    if (
        isinstance(grid, Sequence)
        and len(grid) == 2
        and all(isinstance(axis, Axis) for axis in grid)
    ):
        x, y = (_axis(axis.name, axis.values, axis.log) for axis in grid)
        return x, y
    got = list(grid) if isinstance(grid, Mapping) else grid
    raise ConfigError(
        "grid must name exactly two hyperparameters, e.g. {'lr': [...], 'beta': [...]} or "
        f"(Axis('lr', (...), log=True), Axis('beta', (...))); got {got!r}."
    )


def sensitivity_map(
    fn: LandscapeArg,
    optimizer: Any,
    grid: Mapping[str, Sequence[float]] | Sequence[Axis],
    *,
    steps: int = 1000,
    tol: float = 1e-3,
    start: Point | None = None,
    weight_decay: float = 0.0,
    decay: str = "decoupled",
    dtype: str | torch.dtype = "float32",
    progress: bool = False,
) -> SensitivityMap:
    """Run one optimizer over a grid of two hyperparameters, all cells as one batched run.

    Args:
        fn: the function (``"rosenbrock"``, ``"rosenbrock a=1 b=2"`` or a Landscape).
        optimizer: a registered optimizer (``"momentum"``, ``"sgd momentum=0.9"``, ``"adam"``,
            ``"adamw weight_decay=0"``, ``"rmsprop centered=true"``, ``"adagrad"``; the
            settings it is given are fixed for every cell) or a
            step function written with tensor operations (see
            :data:`optiscope.engine.STEP_FUNCTION_HELP`).
        grid: exactly two hyperparameters and their values, ``{"lr": [...], "beta": [...]}``,
            or two :class:`~optiscope.grammar.Axis` (each says whether it is drawn on a log
            scale; a plain list is when its values are positive and span
            :data:`LOG_AXIS_SPAN`); the first is the x-axis, the second the y-axis. Values
            are sorted (the result's
            ``x_values``/``y_values`` are increasing), must not repeat, and the map has at
            most :data:`MAX_CELLS` cells. ``beta1``/``beta2`` set Adam's
            ``betas``; ``weight_decay`` for an optimizer without its own is the extra decay
            of kind ``decay``.
        steps: steps per cell.
        tol: distance to a minimum that counts as reached.
        start: the common start; default the function's.
        weight_decay: extra decay for every cell (unless an axis sets it).
        decay: ``"decoupled"`` or ``"l2"``.
        dtype: ``"float32"`` or ``"float64"``.
        progress: show a progress bar on stderr.

    Returns:
        A :class:`SensitivityMap`.

    Raises:
        ConfigError: for a bad grid, an optimizer that cannot run batched, or invalid cells
            (every cell is checked before anything runs).

    Examples:
        >>> grid = {"lr": np.geomspace(1e-3, 0.3, 64), "beta": np.linspace(0, 0.99, 64)}
        >>> m = sensitivity_map("rosenbrock a=1 b=2", "momentum", grid)  # doctest: +SKIP
        >>> m.plot()  # doctest: +SKIP
    """
    landscape = resolve_landscape(fn)
    (resolved,) = resolve_optimizers([optimizer])
    if not resolved.vectorizable:
        raise ConfigError(
            f"{resolved.title} cannot run a sensitivity map (it has no vectorized update); use "
            f"one of {batched_names()}, or a step function written with tensor operations."
        )
    x_axis, y_axis = _axes(grid)
    (x_name, x_values), (y_name, y_values) = (
        (x_axis.name, x_axis.values),
        (y_axis.name, y_axis.values),
    )
    if len(x_values) * len(y_values) > MAX_CELLS:
        raise ConfigError(
            f"the grid has {len(x_values)} x {len(y_values)} = {len(x_values) * len(y_values):,} "
            f"cells; a map runs at most {MAX_CELLS:,} (512 x 512) as one batched computation. "
            "Use fewer values, or split the range into several maps. Nothing was run."
        )
    check_names(resolved, (x_name, y_name))
    check_one_decay(resolved, weight_decay, "the map")
    steps = check_steps(steps)
    point = check_start(start, landscape)
    torch_dtype = check_dtype(dtype)
    check_start_value(landscape, point, torch_dtype)
    tol = check_tol(tol)
    cells, rates = grid_cells(resolved, x_axis, y_axis, weight_decay, decay)

    started = time.perf_counter()
    bar = progress_bar(steps, f"{len(cells)} cells") if progress else None
    try:
        result = run_grid(
            landscape,
            resolved,
            cells,
            start=point,
            steps=steps,
            tol=float(tol),
            weight_decay=rates,
            decay=decay,
            dtype=torch_dtype,
            on_step=(lambda _step: bar.update(1)) if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    return SensitivityMap(
        landscape=landscape,
        optimizer=resolved,
        x_name=x_name,
        x_values=list(x_values),
        y_name=y_name,
        y_values=list(y_values),
        run=result,
        x_log=x_axis.log,
        y_log=y_axis.log,
        start=point,
        weight_decay=float(weight_decay),
        decay=decay,
        seconds=time.perf_counter() - started,
    )


class SensitivityMap:
    """The outcome of :func:`sensitivity_map`: one run per cell of a two-hyperparameter grid.

    Attributes:
        landscape, optimizer: what ran.
        x_name, x_values: the x-axis hyperparameter and its values (columns).
        y_name, y_values: the y-axis hyperparameter and its values (rows).
        x_log, y_log: whether each axis is drawn on a log scale.
        run: the raw per-cell results (cells row-major: y outer, x inner).
        start: the common start.
        weight_decay, decay: the extra decay (unless an axis set it).
        seconds: wall-clock time of the batched run.
    """

    def __init__(
        self,
        *,
        landscape: Landscape,
        optimizer: PathOptimizer,
        x_name: str,
        x_values: list[float],
        y_name: str,
        y_values: list[float],
        run: GridRun,
        start: Point,
        weight_decay: float = 0.0,
        decay: str = "decoupled",
        seconds: float = math.nan,
        x_log: bool = False,
        y_log: bool = False,
    ) -> None:
        self.landscape = landscape
        self.x_log, self.y_log = x_log, y_log
        self.optimizer = optimizer
        self.x_name, self.x_values = x_name, x_values
        self.y_name, self.y_values = y_name, y_values
        self.run = run
        self.start = start
        self.weight_decay = weight_decay
        self.decay = decay
        self.seconds = seconds

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` = ``(len(y_values), len(x_values))``."""
        return (len(self.y_values), len(self.x_values))

    @property
    def final_distance(self) -> np.ndarray:
        """Final distance to the nearest minimum, ``(rows, columns)``; NaN where diverged."""
        return self.run.final_distance.reshape(self.shape)

    @property
    def reached_step(self) -> np.ndarray:
        """First step within ``tol`` of a minimum, ``(rows, columns)``; -1 where never."""
        return self.run.reached_step.reshape(self.shape)

    @property
    def diverged(self) -> np.ndarray:
        """Whether each cell diverged, ``(rows, columns)``."""
        return (self.run.diverged_step >= 0).reshape(self.shape)

    @property
    def frame(self) -> pd.DataFrame:
        """One row per cell: the two hyperparameters, ``final_x``, ``final_y``,
        ``final_value``, ``final_distance``, ``reached_step`` and ``diverged_step`` (missing
        when never), and ``status``."""
        import pandas as pd

        ys, xs = np.meshgrid(self.y_values, self.x_values, indexing="ij")
        reached = pd.array(self.run.reached_step, dtype="Int64")
        reached[self.run.reached_step < 0] = pd.NA
        diverged = pd.array(self.run.diverged_step, dtype="Int64")
        diverged[self.run.diverged_step < 0] = pd.NA
        return pd.DataFrame(
            {
                self.x_name: xs.ravel(),
                self.y_name: ys.ravel(),
                "final_x": self.run.final_x,
                "final_y": self.run.final_y,
                "final_value": self.run.final_value,
                "final_distance": self.run.final_distance,
                "reached_step": reached,
                "diverged_step": diverged,
                "status": np.where(self.run.diverged_step >= 0, "diverged", "done"),
            }
        )

    @property
    def fixed_settings(self) -> dict[str, Any]:
        """The optimizer's settings that every cell shares: its hyperparameters less the two
        axes (an axis ``beta1`` leaves only ``beta2`` of ``betas`` fixed)."""
        axes = {self.x_name, self.y_name}
        fixed = {k: v for k, v in self.optimizer.hparam_dict.items() if k not in axes}
        if "betas" in fixed and axes & set(BETA_PARTS):
            betas = fixed.pop("betas")
            fixed |= {part: betas[i] for part, i in BETA_PARTS.items() if part not in axes}
        return fixed

    def plot(self, *, ax: Sequence[Axes] | None = None) -> Figure:
        """Final distance (log color) and steps to the tolerance per cell; diverged cells red.

        Args:
            ax: ``None`` for a new figure, or the two matplotlib axes of one figure to draw
                the two maps into (``plt.subplots(1, 2)[1]``).

        Returns:
            The matplotlib Figure (``ax``'s when given).

        Raises:
            ConfigError: when ``ax`` is not two axes.
        """
        settings = format_hparams(self.fixed_settings)
        data = build_heatmap(
            self.x_name,
            self.x_values,
            self.y_name,
            self.y_values,
            self.run.final_distance,
            self.run.reached_step,
            self.run.diverged_step,
            tol=self.run.tol,
            steps=self.run.steps,
            x_log=self.x_log,
            y_log=self.y_log,
            title=(
                f"{self.optimizer.title} on {self.landscape.label} from {self.start}, "
                f"{self.run.steps} steps" + (f" ({settings})" if settings else "")
            ),
        )
        return render_heatmap(data, ax=ax)

    def save(self, path: str | Path) -> Path:
        """Save :meth:`plot` as PNG, SVG or PDF (by suffix); returns the path."""
        return save_figure(self.plot(), path, close=True)

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def _repr_html_(self) -> str:
        return figure_html(self.plot(), self.frame, title=repr(self))

    def __repr__(self) -> str:
        rows, columns = self.shape
        return (
            f"SensitivityMap({self.optimizer.title} on {self.landscape.label}: "
            f"{self.y_name} x {self.x_name} = {rows} x {columns} cells, "
            f"{int(self.diverged.sum())} diverged, {self.seconds:.1f} s)"
        )
