"""``race``: several optimizers from the same start on a 2-D function, nothing added.

Every optimizer starts at the same point, takes the same number of steps and sees only the
function's gradient (plus the weight decay you ask for, applied the same way to all). The result
has the paths as a tidy frame, a figure with the paths on the contour plot beside the value per
step, and an animated GIF.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from optiscope.engine import PathOptimizer, check_decay, format_hparams, run_path
from optiscope.landscapes import Landscape, Point
from optiscope.plotting import (
    build_race,
    figure_html,
    figure_png,
    render_race,
    save_figure,
    save_race_animation,
)
from optiscope.records import Trajectory

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ROSENBROCK_SETTINGS", "RaceResult", "race"]

#: Settings with which each registered optimizer reaches the minimum of the canonical
#: Rosenbrock function (a=1, b=100) from (-1, 2) within 0.01, in float32 and ``steps`` steps
#: (``tests/test_race.py`` checks every one; an optimizer added to the registry needs a line).
ROSENBROCK_SETTINGS: dict[str, dict[str, Any]] = {
    "momentum": {"optimizer": "momentum lr=0.01 beta=0.9", "steps": 1_000},
    "sgd": {"optimizer": "sgd lr=0.001 momentum=0.9", "steps": 1_000},
    "adam": {"optimizer": "adam lr=0.02 betas=0.9,0.99", "steps": 2_000},
    "adamw": {"optimizer": "adamw lr=0.02 betas=0.9,0.99 weight_decay=0", "steps": 2_000},
    "rmsprop": {"optimizer": "rmsprop lr=0.001 momentum=0.9", "steps": 2_000},
    "adagrad": {"optimizer": "adagrad lr=0.4", "steps": 10_000},  # its steps only shrink
    "nadam": {"optimizer": "nadam lr=0.005", "steps": 10_000},  # (0.02: still 0.013 away)
    # RAdam's first steps (until rho_t > 5) are plain momentum SGD: at lr 0.01 they throw
    # the point off the valley (it diverges); beta2 0.99 shortens that phase to 5 steps
    "radam": {"optimizer": "radam lr=0.001 betas=0.9,0.99", "steps": 5_000},
    "adamax": {"optimizer": "adamax lr=0.05", "steps": 5_000},
}

#: What ``race`` runs when no optimizers are given: the exercise's momentum beside torch's.
DEFAULT_OPTIMIZERS: tuple[str, ...] = (
    "momentum lr=0.01 beta=0.9",
    "sgd lr=0.01",
    "adam lr=0.1",
    "adamw lr=0.1",
)


def race(
    fn: LandscapeArg = "rosenbrock",
    optimizers: Any = None,
    *,
    start: Point | None = None,
    steps: int = 500,
    weight_decay: float = 0.0,
    decay: str = "decoupled",
    tol: float = 1e-3,
    dtype: str | torch.dtype = "float32",
    progress: bool = False,
) -> RaceResult:
    """Run several optimizers from the same start on a 2-D test function.

    Args:
        fn: a test function: a name (``"himmelblau"``), a name with parameters
            (``"rosenbrock a=1 b=2"``) or a :class:`~optiscope.landscapes.Landscape`.
        optimizers: a list (or ``{label: optimizer}`` mapping) of optimizers, each one of:
            ``"adam lr=0.1"`` (a name and ``key=value`` pairs; registered names are
            ``momentum``, ``sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad``, and any
            ``torch.optim`` class name works), a ``torch.optim`` class,
            ``(torch.optim.NAdam, {"lr": 0.01})``, or a step function
            ``step(position, grad, state, **hparams) -> new position``.
        start: the common start ``(x, y)``; default the function's own.
        steps: steps per optimizer.
        weight_decay: extra weight decay for every optimizer (0: none).
        decay: ``"decoupled"`` (AdamW's ``p -= lr * wd * p``) or ``"l2"`` (``wd * p`` added to
            the gradient).
        tol: distance to a minimum counted as reached (for :meth:`RaceResult.summary`).
        dtype: ``"float32"`` (torch's default, as in the exercise) or ``"float64"``.
        progress: show a progress bar on stderr.

    Returns:
        A :class:`RaceResult`.

    Raises:
        ConfigError: for an unknown function or optimizer or a bad setting; every optimizer
            is checked before any runs.

    Examples:
        >>> optimizers = ["momentum lr=0.01 beta=0.9", "adam lr=0.1"]
        >>> result = race("himmelblau", optimizers)  # doctest: +SKIP
        >>> result.summary()  # doctest: +SKIP
    """
    landscape = resolve_landscape(fn)
    if optimizers is None:  # AdamW's own default decay would add to the race's
        optimizers = [
            f"{text} weight_decay=0" if weight_decay and text.startswith("adamw") else text
            for text in DEFAULT_OPTIMIZERS
        ]
    resolved = resolve_optimizers(optimizers)
    steps = check_steps(steps)
    point = check_start(start, landscape)
    torch_dtype = check_dtype(dtype)
    check_start_value(landscape, point, torch_dtype)
    tol = check_tol(tol)
    for optimizer in resolved:
        check_decay(weight_decay, decay, optimizer)
        check_one_decay(optimizer, weight_decay, "the race")
    started = time.perf_counter()
    bar = progress_bar(steps * len(resolved), "race") if progress else None
    try:
        paths = [
            run_path(
                landscape,
                optimizer,
                start=point,
                steps=steps,
                weight_decay=weight_decay,
                decay=decay,
                dtype=torch_dtype,
                on_step=(lambda _step: bar.update(1)) if bar is not None else None,
            )
            for optimizer in resolved
        ]
    finally:
        if bar is not None:
            bar.close()
    return RaceResult(
        landscape=landscape,
        optimizers=resolved,
        trajectories=paths,
        start=point,
        steps=steps,
        weight_decay=float(weight_decay),
        decay=decay,
        tol=tol,
        seconds=time.perf_counter() - started,
    )


class RaceResult:
    """The outcome of :func:`race`: one path per optimizer, in the order given.

    Attributes:
        landscape: the function.
        optimizers: the optimizers, with their complete settings.
        trajectories: one :class:`~optiscope.records.Trajectory` each.
        start: the common start.
        steps: steps each ran (unless it diverged).
        weight_decay, decay: the extra weight decay applied to all.
        tol: distance counted as reaching a minimum.
        seconds: wall-clock time of the race.
    """

    def __init__(
        self,
        landscape: Landscape,
        optimizers: list[PathOptimizer],
        trajectories: list[Trajectory],
        *,
        start: Point,
        steps: int,
        weight_decay: float = 0.0,
        decay: str = "decoupled",
        tol: float = 1e-3,
        seconds: float = math.nan,
    ) -> None:
        self.landscape = landscape
        self.optimizers = optimizers
        self.trajectories = trajectories
        self.start = start
        self.steps = steps
        self.weight_decay = weight_decay
        self.decay = decay
        self.tol = tol
        self.seconds = seconds

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.trajectories]

    @property
    def frame(self) -> pd.DataFrame:
        """A tidy frame, one row per optimizer and position.

        Columns: ``optimizer`` (ordered categorical, in the order given), ``step`` (0 is the
        start), ``x``, ``y``, ``value``, ``distance`` (to the nearest global minimum). A
        diverged path stops at its last finite position.
        """
        import numpy as np
        import pandas as pd

        parts = []
        for path in self.trajectories:
            x, y = np.asarray(path.x, dtype=np.float64), np.asarray(path.y, dtype=np.float64)
            parts.append(
                pd.DataFrame(
                    {
                        "optimizer": path.label,
                        "step": np.arange(len(x)),
                        "x": x,
                        "y": y,
                        "value": np.asarray(path.value, dtype=np.float64),
                        "distance": self.landscape.distance_to_minimum(x, y),
                    }
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        frame["optimizer"] = pd.Categorical(
            frame["optimizer"], categories=self.labels, ordered=True
        )
        return frame

    def summary(self) -> pd.DataFrame:
        """One row per optimizer: where it ended, how close, how fast, and its settings.

        Columns: ``optimizer``, ``status``, ``diverged_step``, ``final_x``, ``final_y``,
        ``final_value``, ``distance`` (to the nearest minimum), ``nearest_minimum``,
        ``steps_to_tol`` (first step within ``tol`` of a minimum), ``settings`` (every
        hyperparameter).
        """
        import pandas as pd

        rows = []
        for optimizer, path in zip(self.optimizers, self.trajectories, strict=True):
            done = path.status == "done"
            x, y = (path.x[-1], path.y[-1]) if done else (math.nan, math.nan)
            reached = next(
                (
                    step
                    for step, (px, py) in enumerate(zip(path.x, path.y, strict=True))
                    if self.landscape.distance_to_minimum(px, py) < self.tol
                ),
                None,
            )
            rows.append(
                {
                    "optimizer": path.label,
                    "status": path.status,
                    "diverged_step": path.diverged_step,
                    "final_x": x,
                    "final_y": y,
                    "final_value": path.value[-1] if done else math.nan,
                    "distance": self.landscape.distance_to_minimum(x, y) if done else math.nan,
                    "nearest_minimum": self.landscape.nearest_minimum(x, y) if done else None,
                    "steps_to_tol": reached,
                    "settings": format_hparams(optimizer.hparam_dict),
                }
            )
        frame = pd.DataFrame(rows)
        frame["diverged_step"] = frame["diverged_step"].astype("Int64")
        frame["steps_to_tol"] = frame["steps_to_tol"].astype("Int64")
        return frame

    def _title(self) -> str:
        decay = f", weight decay {self.weight_decay:g} ({self.decay})" if self.weight_decay else ""
        return f"{self.landscape.label}: {self.steps} steps from {self.start}{decay}"

    def _data(self, domain: tuple[Point, Point] | None = None) -> Any:
        return build_race(
            self.trajectories,
            self.landscape,
            start=self.start,
            steps=self.steps,
            title=self._title(),
            domain=domain,
        )

    def plot(
        self,
        *,
        value_panel: bool = True,
        domain: tuple[Point, Point] | None = None,
        ax: Axes | Sequence[Axes] | None = None,
    ) -> Figure:
        """The paths on the contour plot and the value above the minimum per step (log scale).

        Args:
            value_panel: draw the value-per-step panel.
            domain: plotting window ``((x_low, x_high), (y_low, y_high))``; default the
                function's.
            ax: ``None`` for a new figure; else the matplotlib axes to draw into: two
                (``plt.subplots(1, 2)[1]``: map, values) with the value panel, one Axes with
                ``value_panel=False``.

        Returns:
            The matplotlib Figure (``ax``'s when given).

        Raises:
            ConfigError: when ``ax`` is not as many axes as the figure has panels.
        """
        return render_race(self._data(domain), value_panel=value_panel, ax=ax)

    def save(self, path: str | Path, **plot_options: Any) -> Path:
        """Save :meth:`plot` as PNG, SVG or PDF (by suffix); returns the path."""
        return save_figure(self.plot(**plot_options), path, close=True)

    def to_gif(
        self,
        path: str | Path,
        *,
        frames: int = 48,
        fps: int = 12,
        dpi: int = 72,
        progress: bool = True,
        domain: tuple[Point, Point] | None = None,
    ) -> Path:
        """Write an animated GIF of the race (paths growing step by step).

        Args:
            path: a ``.gif`` file.
            frames: the most frames (denser at the start, where paths move most; frames
                that would show the same step are dropped), at least 2.
            fps: frames per second, at least 1.
            dpi: resolution (the default keeps files well under 1 MB).
            progress: show a progress bar on stderr while frames are drawn.
            domain: plotting window; default the function's.

        Returns:
            The path written.

        Raises:
            ConfigError: for a name not ending in ``.gif`` or a bad ``frames``/``fps``/``dpi``.
        """
        bars: list[Any] = []  # made at the first frame, when the number of frames is known

        def advance(_frame: int, total: int) -> None:
            if not bars:
                bars.append(progress_bar(total, "gif", unit="frame"))
            bars[0].update(1)

        try:
            return save_race_animation(
                self._data(domain),
                path,
                frames=frames,
                fps=fps,
                dpi=dpi,
                progress=advance if progress else None,
            )
        finally:
            for bar in bars:
                bar.close()

    def to_json_dict(self) -> dict[str, Any]:
        """The summary and setup as JSON-ready data (NaN becomes ``None``)."""
        summary = self.summary().astype(object)
        rows = summary.where(summary.notna(), None).to_dict(orient="records")
        for row in rows:
            if row["nearest_minimum"] is not None:
                row["nearest_minimum"] = list(row["nearest_minimum"])
        return {
            "function": self.landscape.describe(),
            "start": list(self.start),
            "steps": self.steps,
            "weight_decay": self.weight_decay,
            "decay": self.decay,
            "tol": self.tol,
            "seconds": self.seconds,
            "optimizers": rows,
        }

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def _repr_html_(self) -> str:
        return figure_html(self.plot(), self.summary(), title=repr(self))

    def __repr__(self) -> str:
        parts = [
            f"{t.label}: " + ("diverged" if t.status == "diverged" else f"{t.value[-1]:.3g}")
            for t in self.trajectories
        ]
        return f"RaceResult({self.landscape.label}, {self.steps} steps; {'; '.join(parts)})"
