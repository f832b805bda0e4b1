"""Learning curves, one line per config: data first (:func:`build_curves`), pixels second.

:func:`build_curves` turns records into plain values (tested without matplotlib; the web page
will serve the same values as JSON); :func:`render_curves` draws them.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optiscope.errors import ConfigError
from optiscope.plotting._style import (
    draw_divergence_crosses,
    draw_off_scale_arrow,
    finish_axes,
    new_axes,
    palette,
)
from optiscope.records import RunRecord
from optiscope.settings import METRICS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "X_AXES",
    "CurveLine",
    "CurvesData",
    "around",
    "build_curves",
    "check_x_axis",
    "nothing_to_draw",
    "off_scale",
    "render_curves",
    "robust_upper_limit",
    "x_axis_label",
]

X_AXES: dict[str, str] = {
    "epoch": "Epoch",
    "step": "Optimizer step",
    "samples": "Samples seen",
    "seconds": "Training time (s)",
}

#: The seconds axis's label when a vectorized engine trained some of the runs: it trains a
#: group of configs (and seeds) in lockstep and records the group's elapsed time for each.
SHARED_SECONDS_LABEL = "Training time of the config's group (s; stacked configs share it)"

#: Each metric's axis label, with its direction (from the metric registry).
METRIC_LABELS: dict[str, str] = {name: metric.axis_label for name, metric in METRICS.items()}

# A line whose values run this many times above the typical level of all lines is drawn off
# the top of the axes instead of stretching it (one exploding config flattens the rest); on a
# logarithmic axis, which shows wide ranges readably, this many times (four decades).
OFF_SCALE_FACTOR = 4.0
OFF_SCALE_FACTOR_LOG = 1e4


@dataclass(frozen=True)
class CurveLine:
    """One config's line.

    Attributes:
        label: legend text (``lr = 0.01``).
        x: x positions of the finite points.
        y: the metric at those positions.
        status: ``done``, ``diverged`` or ``error``.
        diverged_x: x where the run diverged (its loss was NaN or inf), else ``None``.
        off_scale_x: first x where the line, having been inside the axes, leaves them above
            the upper limit (an arrow marks it), else ``None``.
        off_scale_note: what part of the line is above the axes, for the legend ("starts at
            2.71, above the plot"; "leaves the plot"), or ``""``.
    """

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    status: str = "done"
    diverged_x: float | None = None
    off_scale_x: float | None = None
    off_scale_note: str = ""

    x_name: str = "epoch"

    @property
    def legend(self) -> str:
        """Legend text: the label, plus where the run diverged or left the plot."""
        notes = []
        if self.status == "diverged" and self.diverged_x is not None:
            notes.append(f"diverged at {self.x_name} {self.diverged_x:g}")
        if self.status == "error":
            notes.append("error")
        if self.off_scale_note:
            notes.append(self.off_scale_note)
        return f"{self.label} ({', '.join(notes)})" if notes else self.label


@dataclass(frozen=True)
class CurvesData:
    """Everything a renderer needs to draw a learning-curve figure."""

    lines: tuple[CurveLine, ...]
    x: str
    x_label: str
    y_label: str
    y_limits: tuple[float, float] | None
    log_y: bool
    title: str = ""
    log_x: bool = False
    note: str = ""
    x_limits: tuple[float, float] | None = None
    yardstick: float | None = None
    yardstick_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the web page's payload)."""
        return {
            "yardstick": self.yardstick,
            "yardstick_label": self.yardstick_label,
            "x": self.x,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "y_limits": list(self.y_limits) if self.y_limits else None,
            "log_y": self.log_y,
            "log_x": self.log_x,
            "title": self.title,
            "note": self.note,
            "x_limits": list(self.x_limits) if self.x_limits else None,
            "lines": [
                {
                    "label": line.label,
                    "legend": line.legend,
                    "x": list(line.x),
                    "y": list(line.y),
                    "status": line.status,
                    "diverged_x": line.diverged_x,
                    "off_scale_x": line.off_scale_x,
                    "off_scale_note": line.off_scale_note,
                }
                for line in self.lines
            ],
        }


def check_x_axis(x: str) -> None:
    """Raise :class:`ConfigError` unless ``x`` is one of :data:`X_AXES`."""
    if x not in X_AXES:
        raise ConfigError(f"x = {x!r} is not an x-axis; choose one of: {', '.join(X_AXES)}.")


def x_axis_label(x: str, records: Iterable[RunRecord]) -> str:
    """The x-axis label; for ``seconds``, says when stacked configs share their group's time.

    The vectorized engine trains K configs as one stacked model, so each curve's ``seconds``
    is the whole group's elapsed time, not the time one config would take alone.
    """
    if x == "seconds" and any(record.engine == "vectorized" for record in records):
        return SHARED_SECONDS_LABEL
    return X_AXES[x]


def robust_upper_limit(series: Sequence[Sequence[float]], *, log_y: bool = False) -> float:
    """An upper y-limit that keeps ordinary lines whole and lets exploding ones leave the axes.

    The typical level is the median of all values pooled (robust while fewer than half of
    the points explode); the limit is the largest value not above ``OFF_SCALE_FACTOR`` (on
    a logarithmic axis ``OFF_SCALE_FACTOR_LOG``) times that level, or the largest value when
    the level is not positive.

    Args:
        series: the finite values of each line.
        log_y: for a logarithmic axis, which shows a wider range readably.

    Returns:
        The largest value to show, before padding.
    """
    values = [v for line in series for v in line]
    level = statistics.median(values)
    factor = OFF_SCALE_FACTOR_LOG if log_y else OFF_SCALE_FACTOR
    kept = [v for v in values if v <= factor * level] if level > 0 else values
    return max(kept or values)


def off_scale(xs: Sequence[float], ys: Sequence[float], upper: float) -> tuple[float | None, str]:
    """Where a line runs above the axes' upper limit, for an arrow and the legend.

    Returns:
        ``(x, note)``: ``x`` where the line, having been inside, first goes above (``None``
        if it never does), and the legend's note: ``"starts at 2.71, above the plot"`` for a
        line that only begins above (a slow start, not an explosion), ``"leaves the plot"``,
        both, ``"above the plot throughout"``, or ``""``.
    """
    above = [y > upper for y in ys]
    if not any(above):
        return None, ""
    if all(above):
        return None, "above the plot throughout"
    first_inside = above.index(False)
    notes = [f"starts at {ys[0]:.3g}, above the plot"] if first_inside > 0 else []
    later = zip(xs[first_inside:], above[first_inside:], strict=True)
    leaves = next((x for x, is_above in later if is_above), None)
    if leaves is not None:
        notes.append("leaves the plot")
    return leaves, ", ".join(notes)


def build_curves(
    records: Sequence[RunRecord],
    labels: Sequence[str],
    *,
    x: str = "epoch",
    log_y: bool = False,
    log_x: bool = False,
    title: str = "",
    yardstick: float | None = None,
    yardstick_label: str = "",
) -> CurvesData:
    """Turn records into lines, in the order given (the legend order).

    Args:
        records: one record per line.
        labels: one legend label per record.
        x: ``epoch``, ``step``, ``samples`` or ``seconds``.
        log_y: logarithmic y-axis (non-positive values are dropped from the limits).
        log_x: logarithmic x-axis (useful for steps, which span 11 to 10,500 in a batch-size
            sweep).
        title: figure title.
        yardstick: a loss to draw as a horizontal line for comparison (such as the RMSE of
            always predicting the training mean); the y-limits include it. Not drawn when no
            run has a finite loss.
        yardstick_label: its legend text.

    Returns:
        Plain data: lines with finite points only, where each diverged, and y-limits chosen so
        that one exploding line does not flatten the others.

    Raises:
        ConfigError: for an unknown ``x`` or mismatched ``labels``.
    """
    check_x_axis(x)
    if len(labels) != len(records):
        raise ConfigError(f"got {len(labels)} labels for {len(records)} records.")
    metric = records[0].config.metric if records else "rmse"
    lines = []
    for record, label in zip(records, labels, strict=True):
        xs = getattr(record.curve, x)
        points = [
            (float(px), float(py))
            for px, py in zip(xs, record.curve.valid_loss, strict=True)
            if math.isfinite(py) and (py > 0 or not log_y)
        ]
        diverged_x = None
        if record.status == "diverged" and xs:
            diverged_x = float(xs[-1])
        lines.append(
            CurveLine(
                label=label,
                x=tuple(p[0] for p in points),
                y=tuple(p[1] for p in points),
                status=record.status,
                diverged_x=diverged_x,
                x_name=x,
            )
        )
    y_limits = None
    finite = [line.y for line in lines if line.y]
    if yardstick is not None and not (math.isfinite(yardstick) and (yardstick > 0 or not log_y)):
        yardstick = None
    if finite:
        low = min(min(values) for values in finite)
        high = robust_upper_limit(finite, log_y=log_y)
        if yardstick is not None:
            low, high = min(low, yardstick), max(high, yardstick)
        if log_y:
            y_limits = (low / 1.15, high * 1.15)
        else:
            pad = 0.04 * (high - low) if high > low else 0.05 * max(abs(high), 1e-12)
            y_limits = (low - pad, high + pad)
        lines = [_mark_off_scale(line, y_limits[1]) for line in lines]
    return CurvesData(
        lines=tuple(lines),
        x=x,
        x_label=x_axis_label(x, records),
        y_label=METRIC_LABELS.get(metric, metric),
        y_limits=y_limits,
        log_y=log_y,
        title=title,
        log_x=log_x,
        note="" if finite or not lines else nothing_to_draw([r.status for r in records], log_y),
        x_limits=None if finite else around([line.diverged_x for line in lines], log_x),
        yardstick=yardstick if finite else None,
        yardstick_label=yardstick_label,
    )


def nothing_to_draw(statuses: Sequence[str], log_y: bool) -> str:
    """Why a figure has no line, from the runs' statuses (for its note)."""
    if all(status == "diverged" for status in statuses):
        return "every run diverged before its first validation: no finite loss to draw"
    if all(status == "error" for status in statuses):
        return "every run failed with an error: nothing to draw"
    if log_y and "done" in statuses:
        return "no positive loss to draw on a logarithmic axis"
    return "no finite loss to draw: the runs diverged or failed"


def around(xs: Sequence[float | None], log_x: bool) -> tuple[float, float] | None:
    """An x-range around these points (for a figure that has only divergence crosses)."""
    known = [x for x in xs if x is not None]
    if not known:
        return None
    low, high = min(known), max(known)
    if log_x and low > 0:
        return (low / 2, high * 2)
    margin = max(0.1 * (high - low), 0.05 * max(abs(low), abs(high)), 0.5)
    return (low - margin, high + margin)


def _mark_off_scale(line: CurveLine, upper: float) -> CurveLine:
    x, note = off_scale(line.x, line.y, upper)
    return dataclasses.replace(line, off_scale_x=x, off_scale_note=note)


def render_curves(data: CurvesData, ax: Axes | None = None) -> Figure:
    """Draw learning curves with matplotlib.

    A diverged run gets a cross on the top edge at the x where its loss became NaN or inf
    (drawn even when no run has a finite value to plot); a line that leaves the axes gets an
    arrow on the top edge where it leaves; the legend says both, and whether a line starts
    above the axes.

    A yardstick, when the data has one, is a dashed grey horizontal line.

    Args:
        data: from :func:`build_curves`.
        ax: axes to draw into; ``None`` makes a new figure.

    Returns:
        The figure (``ax``'s when given).
    """
    fig, ax = new_axes(ax)
    for line, color in zip(data.lines, palette(len(data.lines)), strict=True):
        ax.plot(line.x, line.y, color=color, label=line.legend, linewidth=1.6)
        if line.diverged_x is not None:
            draw_divergence_crosses(ax, [line.diverged_x], color)
        if line.off_scale_x is not None:
            draw_off_scale_arrow(ax, line.off_scale_x, color)
    if data.yardstick is not None:
        ax.axhline(
            data.yardstick, color="0.4", linestyle="--", linewidth=1.2, label=data.yardstick_label
        )
    finish_axes(
        ax,
        x=data.x,
        x_label=data.x_label,
        y_label=data.y_label,
        y_limits=data.y_limits,
        log_x=data.log_x,
        log_y=data.log_y,
        title=data.title,
        note=data.note,
        x_limits=data.x_limits,
    )
    if data.lines:
        ax.legend(title="Configuration", fontsize="small", frameon=False, loc="best")
    return fig
