"""The sweep page's extra views as plain data: slices of final loss per setting, log-spaced
settings, and curves thinned for a browser.

Like every ``build_*`` here these return plain values; the web page serves them as JSON and a
matplotlib figure could draw them the same way.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from optiscope.errors import ConfigError
from optiscope.plotting._bands import BandLine, BandsData

__all__ = [
    "SLICE_METRICS",
    "SliceData",
    "SlicePoint",
    "build_slices",
    "log_spaced",
    "thin_bands",
    "thin_indices",
]

#: What a slice shows per config: the mean over seeds of the final, or of each seed's best,
#: validation loss (the columns of ``SweepResult.summary``).
SLICE_METRICS: dict[str, str] = {
    "final": "final_mean",
    "best": "best_mean",
}


def log_spaced(values: Sequence[Any]) -> bool:
    """Whether a setting's values are spaced geometrically (``1e-4, 1e-3, 1e-2``), so an axis
    of them reads best on a log scale.

    True for three or more distinct positive numbers whose steps are more even in log than in
    linear terms (the coefficient of variation of the log steps is the smaller); two values
    count when they are a decade or more apart.
    """
    numbers = sorted(
        {float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)}
    )
    if len(numbers) < 2 or numbers[0] <= 0 or len(numbers) != len(set(values)):
        return False
    if len(numbers) == 2:
        return numbers[1] / numbers[0] >= 10
    linear = [b - a for a, b in itertools.pairwise(numbers)]
    logs = [math.log(b / a) for a, b in itertools.pairwise(numbers)]

    def spread(steps: Sequence[float]) -> float:
        return statistics.pstdev(steps) / statistics.fmean(steps)

    return spread(logs) < spread(linear)


@dataclass(frozen=True)
class SlicePoint:
    """One config in a slice: its value of the setting and its loss over seeds.

    Attributes:
        label: the config.
        value: its value of the setting, as shown (``0.01``, ``50x50``).
        x: position on the axis: the number, or the category's index for text values.
        y: mean over seeds (``NaN`` when no seed finished).
        low, high: the t-interval of that mean (``NaN`` with fewer than 2 seeds).
        status: ``done``, or what went wrong (``diverged 2/5``).
    """

    label: str
    value: str
    x: float
    y: float
    low: float
    high: float
    status: str


@dataclass(frozen=True)
class SliceData:
    """Final (or best) loss of every config against one swept setting.

    Attributes:
        setting: the swept setting.
        metric: ``final`` or ``best``.
        points: one per config.
        log_x: the setting is log-spaced (draw the axis in log).
        categories: the text values in order, for a setting that is not a number.
    """

    setting: str
    metric: str
    points: tuple[SlicePoint, ...]
    log_x: bool
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes ``None``)."""

        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {
            "setting": self.setting,
            "metric": self.metric,
            "log_x": self.log_x,
            "categories": list(self.categories),
            "points": [
                {
                    "label": p.label,
                    "value": p.value,
                    "x": p.x,
                    "y": clean(p.y),
                    "low": clean(p.low),
                    "high": clean(p.high),
                    "status": p.status,
                }
                for p in self.points
            ],
        }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def build_slices(
    rows: Sequence[Mapping[str, Any]], settings: Sequence[str], *, metric: str = "final"
) -> list[SliceData]:
    """One slice per swept setting from a sweep's summary rows.

    Args:
        rows: ``SweepResult.summary()`` as records: ``config``, each setting, ``status``,
            ``final_mean``, ``final_ci_low``, ``final_ci_high``, ``best_mean``.
        settings: the swept settings, in order.
        metric: ``final`` (mean final loss, with its interval) or ``best`` (mean of each
            seed's best epoch; no interval).

    Raises:
        ConfigError: for another ``metric``.
    """
    if metric not in SLICE_METRICS:
        raise ConfigError(f"metric = {metric!r}; choose one of: {', '.join(SLICE_METRICS)}.")
    column = SLICE_METRICS[metric]
    slices = []
    for setting in settings:
        values = [row.get(setting) for row in rows]
        numeric = all(_number(v) is not None for v in values)
        categories: tuple[str, ...] = ()
        if not numeric:
            categories = tuple(dict.fromkeys(str(v) for v in values))
        points = []
        for row, value in zip(rows, values, strict=True):
            x = _number(value) if numeric else float(categories.index(str(value)))
            has_interval = metric == "final"
            points.append(
                SlicePoint(
                    label=str(row["config"]),
                    value=str(value),
                    x=float(x if x is not None else math.nan),
                    y=float(row.get(column, math.nan)),
                    low=float(row.get("final_ci_low", math.nan)) if has_interval else math.nan,
                    high=float(row.get("final_ci_high", math.nan)) if has_interval else math.nan,
                    status=str(row.get("status", "done")),
                )
            )
        slices.append(
            SliceData(
                setting=setting,
                metric=metric,
                points=tuple(sorted(points, key=lambda p: p.x)),
                log_x=numeric and log_spaced(values),
                categories=categories,
            )
        )
    return slices


def thin_indices(length: int, max_points: int) -> list[int]:
    """At most ``max_points`` evenly spread indices of ``range(length)``, first and last
    included (the kept points are exact values, never averages, so nothing is smoothed)."""
    if max_points < 2:
        raise ConfigError(f"max_points = {max_points}; a line needs at least 2 points.")
    if length <= max_points:
        return list(range(length))
    step = (length - 1) / (max_points - 1)
    return sorted({round(i * step) for i in range(max_points)})


def thin_bands(data: BandsData, max_points: int) -> BandsData:
    """``data`` with every line (and seed line) cut to at most ``max_points`` points, for a
    browser drawing thousands of configs. Unchanged when every line is short enough."""

    def pick(values: Sequence[Any], keep: Sequence[int]) -> tuple[Any, ...]:
        return tuple(values[i] for i in keep)

    def thin_line(line: BandLine) -> BandLine:
        keep = thin_indices(len(line.x), max_points)
        seeds = tuple(
            replace(s, x=pick(s.x, k), y=pick(s.y, k))
            for s in line.seed_lines
            for k in [thin_indices(len(s.x), max_points)]
        )
        return replace(
            line,
            x=pick(line.x, keep),
            mean=pick(line.mean, keep),
            low=pick(line.low, keep),
            high=pick(line.high, keep),
            count=pick(line.count, keep),
            seed_lines=seeds,
        )

    if all(
        len(line.x) <= max_points and all(len(s.x) <= max_points for s in line.seed_lines)
        for line in data.lines
    ):
        return data
    return replace(data, lines=tuple(thin_line(line) for line in data.lines))
