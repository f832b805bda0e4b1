"""The lr-find figure: each config's range test with fastai's suggestions, and their check.

``build_lr_find`` takes plain values (the range tests' curves, the suggestions per seed, and the
check sweep's final values per lr and seed) and returns :class:`LrFindData`;
``render_lr_find`` draws one row per config: the smoothed training loss against the lr, one
line per seed, with each suggestion marked (left), and the check: the final validation metric
of a short lr sweep, mean over seeds with a band of their spread, the best lr starred and each
suggestion's lrs over the seeds as a bar from the least to the largest (right).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optiscope.plotting._curves import robust_upper_limit
from optiscope.plotting._stats import interval
from optiscope.plotting._style import draw_divergence_crosses, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CheckLine",
    "LrFindData",
    "LrFindPanel",
    "RangeLine",
    "build_check",
    "build_lr_find",
    "render_lr_find",
]

#: One colour per suggestion method, the same in every panel.
METHOD_COLORS = {
    "valley": "tab:orange",
    "slide": "tab:green",
    "minimum": "tab:red",
    "steep": "tab:purple",
}


@dataclass(frozen=True)
class RangeLine:
    """One seed's range test: the lrs and the smoothed losses recorded."""

    seed: int
    lrs: tuple[float, ...]
    smoothed: tuple[float, ...]


@dataclass(frozen=True)
class CheckLine:
    """The check sweep of one config: final validation metric per lr over seeds.

    Attributes:
        lrs: the swept lrs, ascending.
        mean, low, high: mean over seeds (runs that diverged left out) and a band of one
            standard deviation; NaN where every seed diverged.
        best_lr: the lr with the best mean (among lrs where no seed diverged).
        diverged: per lr, how many seeds diverged (drawn as crosses on the top edge).
    """

    lrs: tuple[float, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    best_lr: float
    diverged: tuple[int, ...] = ()


@dataclass(frozen=True)
class LrFindPanel:
    """One config's row of the figure.

    Attributes:
        label: the config (``optimizer = adam``).
        ranges: one :class:`RangeLine` per seed.
        suggestions: method -> per seed ``(suggested lr, marked lr, marked loss)``.
        check: the check sweep, or ``None`` when it was not run.
    """

    label: str
    ranges: tuple[RangeLine, ...]
    suggestions: Mapping[str, tuple[tuple[float, float, float], ...]]
    check: CheckLine | None


@dataclass(frozen=True)
class LrFindData:
    """The figure as plain values: one panel per config."""

    panels: tuple[LrFindPanel, ...]
    metric_label: str
    goal: str
    title: str = ""


def build_check(finals: Mapping[float, Sequence[float]], goal: str) -> CheckLine:
    """The check line from final values per lr (one per seed; NaN: diverged)."""
    lrs = sorted(finals)
    means, lows, highs, diverged = [], [], [], []
    best, best_lr = math.inf, math.nan
    for lr in lrs:
        values = [v for v in finals[lr] if math.isfinite(v)]
        diverged.append(len(finals[lr]) - len(values))
        stats = interval(values, floor=0.0)  # (every metric, loss or score, is >= 0)
        means.append(stats.mean)
        lows.append(stats.low if stats.n >= 2 else stats.mean)
        highs.append(stats.high if stats.n >= 2 else stats.mean)
        if len(values) == len(finals[lr]) and values:
            score = stats.mean if goal == "min" else -stats.mean
            if score < best:
                best, best_lr = score, lr
    return CheckLine(tuple(lrs), tuple(means), tuple(lows), tuple(highs), best_lr, tuple(diverged))


def build_lr_find(
    panels: Sequence[LrFindPanel], *, metric_label: str, goal: str, title: str = ""
) -> LrFindData:
    """The figure's data (the panels are built by the caller from its results)."""
    return LrFindData(tuple(panels), metric_label, goal, title)


def render_lr_find(data: LrFindData) -> Figure:
    """Draw one row per config: range tests with suggestions (left), the check (right)."""
    rows = max(len(data.panels), 1)
    fig = new_figure((12.5, 3.6 * rows + 0.6))
    axes = fig.subplots(rows, 2, squeeze=False)
    for panel, (left, right) in zip(data.panels, axes, strict=False):
        finite = [v for line in panel.ranges for v in line.smoothed if math.isfinite(v)]
        for index, line in enumerate(panel.ranges):
            label = "smoothed training loss, one line per seed" if index == 0 else None
            left.plot(line.lrs, line.smoothed, color="0.35", lw=1.0, alpha=0.8, label=label)
        for method, points in panel.suggestions.items():
            xs = [p[1] for p in points if math.isfinite(p[1])]
            ys = [p[2] for p in points if math.isfinite(p[1])]
            left.plot(xs, ys, "o", color=METHOD_COLORS.get(method), label=method, ms=6)
        left.set_xscale("log")
        if finite:
            low, high = min(finite), sorted(finite)[int(0.95 * (len(finite) - 1))]
            if low > 0 and high > 20 * low:
                left.set_yscale("log")
            left.set_ylim(top=high * 1.5 if high > 0 else None)
        left.set_xlabel("lr")
        left.set_ylabel("training loss (smoothed)")
        left.set_title(f"{panel.label}: lr range test")
        left.grid(True, alpha=0.3)
        left.legend(fontsize="x-small", frameon=False)
        if panel.check is None:
            right.set_visible(False)
            continue
        check = panel.check
        right.fill_between(check.lrs, check.low, check.high, color="tab:blue", alpha=0.2, lw=0)
        right.plot(check.lrs, check.mean, color="tab:blue", marker=".", lw=1.6,
                   label="final validation, mean over seeds ± 1 sd")  # fmt: skip
        shown = [v for v in (*check.mean, *check.low, *check.high) if math.isfinite(v)]
        if math.isfinite(check.best_lr):
            at = check.mean[check.lrs.index(check.best_lr)]
            right.plot([check.best_lr], [at], "*", color="black", ms=14, label="best lr", zorder=5)
        for method, points in panel.suggestions.items():
            lrs = sorted(p[0] for p in points if math.isfinite(p[0]))
            if not lrs:
                continue
            color = METHOD_COLORS.get(method)
            right.axvspan(lrs[0], lrs[-1], color=color, alpha=0.15, lw=0)
            right.axvline(lrs[len(lrs) // 2], color=color, lw=1.8, ls="--",
                          label=f"{method}: median over seeds, band: their range")  # fmt: skip
        right.set_xscale("log")
        crossed = [lr for lr, count in zip(check.lrs, check.diverged, strict=True) if count]
        draw_divergence_crosses(right, crossed, "tab:blue")
        if crossed:
            right.plot([], [], "X", color="tab:blue", label="a seed diverged at this lr")
        means = [v for v in check.mean if math.isfinite(v)]
        if means and min(means) > 0 and max(means) > 20 * min(means):
            right.set_yscale("log")  # (a wide range: the lrs that barely train, or blow up)
            upper = robust_upper_limit([[v for v in shown if v > 0]], log_y=True)
            right.set_ylim(min(means) / 2, upper * 2)  # (an lr that blew up leaves the axes)
        elif shown:
            upper = robust_upper_limit([shown])
            pad = 0.08 * (upper - min(shown) or abs(upper) or 1.0)
            right.set_ylim(min(shown) - pad, upper + pad)
        direction = "lower" if data.goal == "min" else "higher"
        right.set_xlabel("lr of the check runs (trained through the normal pipeline)")
        right.set_ylabel(f"final {data.metric_label} ({direction} is better)")
        right.set_title("check: where the suggestions land")
        right.grid(True, alpha=0.3)
        right.legend(fontsize="x-small", frameon=False)
    if data.title:
        fig.suptitle(data.title)
    return fig
