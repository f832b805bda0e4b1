"""The fair-comparison figure: expected best result against tuning budget, and who beats whom.

``build_fair_comparison`` turns each optimizer's grid of final values (seeds x configs) and its
tuned config's per-seed values into plain data (:class:`FairComparisonData`);
``render_fair_comparison`` draws two panels: the expected best final metric after ``k`` random
trials of each optimizer's grid with a bootstrap band (left), and the paired probability that
the row's tuned optimizer beats the column's, over seeds (right).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optiscope.plotting._curves import robust_upper_limit
from optiscope.plotting._expected_best import bootstrap_best_of_k, paired_improvement
from optiscope.plotting._style import new_figure, palette

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BudgetLine", "FairComparisonData", "build_fair_comparison", "render_fair_comparison"]


@dataclass(frozen=True)
class BudgetLine:
    """One optimizer's expected best result against its tuning budget.

    Attributes:
        label: the optimizer's name.
        budgets: ``1..N`` (N: configs in its grid).
        expected: expected best final value after ``k`` random trials, given one finished.
        low, high: the bootstrap band.
        all_failed: the probability that all ``k`` trials diverged.
        seeds: how many seeds the estimate averages.
    """

    label: str
    budgets: tuple[int, ...]
    expected: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    all_failed: tuple[float, ...]
    seeds: int

    def legend(self, y_top: float = math.inf) -> str:
        """The label, the grid's size, the chance a single trial diverges if it is not 0,
        and the budgets at which the line is above ``y_top`` (off the axes)."""
        text = f"{self.label} ({len(self.budgets)} configs, {self.seeds} seeds)"
        if self.all_failed and self.all_failed[0] > 0:
            text += f"; 1 trial diverges {self.all_failed[0]:.0%}"
        above = [k for k, v in zip(self.budgets, self.expected, strict=True) if v > y_top]
        if above:
            text += f"; above the axes at k ≤ {max(above)}"
        return text


@dataclass(frozen=True)
class FairComparisonData:
    """Everything the figure shows, as plain values (JSON-ready but for NaN).

    Attributes:
        lines: one :class:`BudgetLine` per optimizer, in the given order.
        optimizers: the matrix's row and column names (optimizers with a tuned config).
        improvement: ``improvement[i][j]``: P(optimizer i's tuned config beats optimizer j's),
            paired over their shared seeds (NaN on the diagonal and without shared seeds).
        improvement_low, improvement_high: its bootstrap interval over seeds.
        y_label: the metric and its direction.
        goal: ``min`` or ``max``.
        confidence: the bands' coverage.
        log_y: a logarithmic y-axis: the values shown are positive and span more than two
            decades.
        y_top: the axes' upper limit: lines far above the typical level (an optimizer whose
            small budgets mostly land on exploding settings) leave the axes there, as in the
            band figures (:func:`~optiscope.plotting.robust_upper_limit`).
        title: the figure's title.
    """

    lines: tuple[BudgetLine, ...]
    optimizers: tuple[str, ...]
    improvement: tuple[tuple[float, ...], ...]
    improvement_low: tuple[tuple[float, ...], ...]
    improvement_high: tuple[tuple[float, ...], ...]
    y_label: str
    goal: str
    confidence: float
    log_y: bool = False
    y_top: float = math.nan
    title: str = ""


def build_fair_comparison(
    grids: Mapping[str, Sequence[Sequence[float]]],
    tuned: Mapping[str, Mapping[int, float]],
    *,
    goal: str,
    metric_label: str,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    title: str = "",
) -> FairComparisonData:
    """The figure's data from each optimizer's grid and tuned config.

    Args:
        grids: per optimizer, its final values as a ``(seeds, configs)`` table (NaN:
            diverged).
        tuned: per optimizer, its tuned config's final value per seed (``{seed: value}``);
            pairs use the seeds two optimizers share.
        goal: ``min`` (lower is better) or ``max``.
        metric_label: the metric's name for the y-axis (``validation RMSE``).
        resamples, confidence, seed: the bootstrap's.
        title: the figure's title.
    """
    lines = []
    for name, table in grids.items():
        found = bootstrap_best_of_k(
            table, goal=goal, resamples=resamples, confidence=confidence, seed=seed
        )
        lines.append(
            BudgetLine(
                name, found.budgets, found.expected, found.low, found.high, found.all_failed,
                len(table),
            )
        )  # fmt: skip
    names = tuple(tuned)
    point, low, high = [], [], []
    for a in names:
        rows: list[list[float]] = [[], [], []]
        for b in names:
            shared = sorted(set(tuned[a]) & set(tuned[b]))
            if a == b or not shared:
                found3 = (math.nan, math.nan, math.nan)
            else:
                found3 = paired_improvement(
                    [tuned[a][s] for s in shared],
                    [tuned[b][s] for s in shared],
                    goal=goal,
                    resamples=resamples,
                    confidence=confidence,
                    seed=seed,
                )
            for row, value in zip(rows, found3, strict=True):
                row.append(value)
        point.append(tuple(rows[0]))
        low.append(tuple(rows[1]))
        high.append(tuple(rows[2]))
    direction = "lower is better" if goal == "min" else "higher is better"
    shown = [
        v
        for line in lines
        for series in (line.expected, line.low, line.high)
        for v in series
        if math.isfinite(v)
    ]
    # Lines far above the typical level leave the axes (robust_upper_limit); a log axis
    # only where what stays on them still spans more than two decades.
    means = [v for line in lines for v in line.expected if math.isfinite(v)]
    y_top = robust_upper_limit([means]) if means and goal == "min" else math.nan
    kept = [v for v in shown if not v > y_top]
    log_y = bool(kept) and min(kept) > 0 and max(kept) > 100 * min(kept)
    return FairComparisonData(
        tuple(lines),
        names,
        tuple(point),
        tuple(low),
        tuple(high),
        f"expected best final {metric_label} ({direction})",
        goal,
        confidence,
        log_y,
        y_top,
        title,
    )


def render_fair_comparison(data: FairComparisonData) -> Figure:
    """Draw the budget curves with bands (left) and the improvement matrix (right)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    fig = new_figure((12.5, 4.8))
    left, right = fig.subplots(1, 2, width_ratios=(1.6, 1))
    most = 1
    for line, color in zip(data.lines, palette(len(data.lines)), strict=True):
        most = max(most, len(line.budgets))
        left.fill_between(line.budgets, line.low, line.high, color=color, alpha=0.2, lw=0)
        left.plot(
            line.budgets,
            line.expected,
            color=color,
            lw=1.8,
            marker=".",
            label=line.legend(data.y_top),
        )
    left.set_xscale("log", base=2)
    if data.log_y:
        left.set_yscale("log")
    if math.isfinite(data.y_top):  # the kept values set both ends (autoscale sees all)
        kept = [
            v
            for line in data.lines
            for series in (line.expected, line.low, line.high)
            for v in series
            if math.isfinite(v) and v <= data.y_top
        ]
        if kept:
            low, top = min(kept), data.y_top
            if data.log_y:
                left.set_ylim(low / 1.3, top * 1.3)
            else:
                pad = 0.05 * (top - low or abs(top) or 1.0)
                left.set_ylim(low - pad, top + pad)
    ticks = [2**i for i in range(int(math.log2(most)) + 1)]
    left.xaxis.set_major_locator(FixedLocator(ticks))
    left.xaxis.set_minor_locator(NullLocator())
    left.set_xticklabels([str(t) for t in ticks])
    left.set_xlabel("tuning budget k: random configs of the grid tried")
    left.set_ylabel(data.y_label)
    left.set_title(f"expected best of k trials, {data.confidence:.0%} bootstrap band")
    left.grid(True, alpha=0.3)
    if data.lines:
        left.legend(fontsize="small", frameon=False, loc="best")
    names = list(data.optimizers)
    if names:
        matrix = [[0.5 if math.isnan(v) else v for v in row] for row in data.improvement]
        right.imshow(matrix, cmap="RdBu", vmin=0, vmax=1)
        for i, row in enumerate(data.improvement):
            for j, value in enumerate(row):
                if math.isnan(value):
                    text = "—"
                else:
                    lo, hi = data.improvement_low[i][j], data.improvement_high[i][j]
                    text = f"{value:.2f}\n[{lo:.2f}, {hi:.2f}]"
                dark = not math.isnan(value) and abs(value - 0.5) > 0.3
                right.text(
                    j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if dark else "black",
                )  # fmt: skip
        right.set_xticks(range(len(names)), names)
        right.set_yticks(range(len(names)), names)
        right.set_xlabel("... beats this optimizer (both tuned)")
        right.set_ylabel("P(this optimizer ...")
    right.set_title("paired over seeds")
    if data.title:
        fig.suptitle(data.title)
    return fig
