"""Seed bands: one mean line and band per config over its seeds; paired differences.

:func:`build_bands` turns groups of records (one group per config, one record per seed) into
plain values; :func:`render_bands` draws one panel, :func:`render_band_panels` several side by
side with a shared y-axis. :func:`paired_differences` compares each config with a baseline
seed by seed: seeds are paired (same initial weights, same batch order), so the differences
cancel the seed-to-seed noise that both share.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from optiscope.errors import ConfigError
from optiscope.plotting._curves import (
    METRIC_LABELS,
    OFF_SCALE_FACTOR,
    OFF_SCALE_FACTOR_LOG,
    around,
    check_x_axis,
    nothing_to_draw,
    off_scale,
    robust_upper_limit,
    x_axis_label,
)
from optiscope.plotting._stats import LOSS_FLOOR, interval
from optiscope.plotting._style import (
    draw_divergence_crosses,
    draw_off_scale_arrow,
    finish_axes,
    new_axes,
    new_figure,
    palette,
)
from optiscope.records import RunRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BandLine",
    "BandsData",
    "Difference",
    "SeedLine",
    "band_title",
    "build_bands",
    "paired_differences",
    "render_band_panels",
    "render_bands",
]

SeedRecords = Sequence[tuple[int, RunRecord]]


@dataclass(frozen=True)
class SeedLine:
    """One seed's own line (drawn thin when seeds are shown).

    Attributes:
        seed: the seed.
        x, y: its finite points.
        status: ``done``, ``diverged`` or ``error``.
        diverged_x: x where it diverged, else ``None``.
    """

    seed: int
    x: tuple[float, ...]
    y: tuple[float, ...]
    status: str = "done"
    diverged_x: float | None = None


@dataclass(frozen=True)
class BandLine:
    """One config's mean line and band over its seeds.

    Attributes:
        label: legend text (``lr = 0.01, weight_decay = 0``).
        x: positions (epochs; for other axes, the seeds' mean position at each epoch).
        mean, low, high: the mean over the seeds with a finite value there, and the band.
        count: how many seeds have a finite value at each position.
        seeds: how many seeds the config has.
        diverged: how many of them diverged.
        errors: how many of them failed with an error.
        seed_lines: each seed's line, in seed order.
        off_scale_x: first x where the mean line, having been inside, goes above the
            y-range, else ``None``.
        off_scale_note: the legend's note on that (see :func:`off_scale`), or ``""``.
    """

    label: str
    x: tuple[float, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    count: tuple[int, ...]
    seeds: int
    diverged: int = 0
    errors: int = 0
    seed_lines: tuple[SeedLine, ...] = ()
    off_scale_x: float | None = None
    off_scale_note: str = ""

    @property
    def legend(self) -> str:
        """The label, plus how many seeds diverged or failed, and whether the mean leaves
        the plot."""
        notes = []
        if self.diverged:
            notes.append(f"{self.diverged} of {self.seeds} seeds diverged")
        if self.errors:
            notes.append(f"{self.errors} of {self.seeds} seeds failed")
        if self.off_scale_note:
            notes.append(self.off_scale_note)
        return f"{self.label} ({', '.join(notes)})" if notes else self.label


@dataclass(frozen=True)
class BandsData:
    """Everything a renderer needs for one panel of seed bands."""

    lines: tuple[BandLine, ...]
    x: str
    x_label: str
    y_label: str
    y_limits: tuple[float, float] | None
    band: str = "std"
    confidence: float = 0.95
    show_seeds: bool = False
    log_y: bool = False
    log_x: bool = False
    title: str = ""
    note: str = ""
    x_limits: tuple[float, float] | None = None

    @property
    def band_label(self) -> str:
        seeds = max((line.seeds for line in self.lines), default=0)
        return band_title(self.band, self.confidence, seeds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes ``None``)."""

        def clean(values: Sequence[float]) -> list[float | None]:
            return [None if math.isnan(v) else v for v in values]

        return {
            "x": self.x,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "y_limits": list(self.y_limits) if self.y_limits else None,
            "band": self.band,
            "band_label": self.band_label,
            "confidence": self.confidence,
            "show_seeds": self.show_seeds,
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
                    "mean": clean(line.mean),
                    "low": clean(line.low),
                    "high": clean(line.high),
                    "count": list(line.count),
                    "seeds": line.seeds,
                    "off_scale_x": line.off_scale_x,
                    "off_scale_note": line.off_scale_note,
                    "diverged": line.diverged,
                    "errors": line.errors,
                    "seed_lines": [
                        {
                            "seed": s.seed,
                            "x": list(s.x),
                            "y": list(s.y),
                            "status": s.status,
                            "diverged_x": s.diverged_x,
                        }
                        for s in line.seed_lines
                    ],
                }
                for line in self.lines
            ],
        }


def band_title(band: str, confidence: float, seeds: int) -> str:
    """Legend title: ``mean ± 1 sd over 5 seeds`` or ``mean and 95% interval over 5 seeds``."""
    what = "mean ± 1 sd" if band == "std" else f"mean and {confidence:.0%} interval"
    return f"{what} over {seeds} seed{'s' if seeds != 1 else ''}"


def _band_line(
    label: str, seeds: SeedRecords, x: str, band: str, confidence: float, log_y: bool
) -> BandLine:
    seed_lines = []
    epochs: dict[int, list[tuple[float, float]]] = {}
    for seed, record in seeds:
        curve = record.curve
        xs = getattr(curve, x)
        points = []
        for epoch, px, py in zip(curve.epoch, xs, curve.valid_loss, strict=True):
            if math.isfinite(py) and (py > 0 or not log_y):
                points.append((float(px), float(py)))
                epochs.setdefault(epoch, []).append((float(px), float(py)))
        diverged_x = float(xs[-1]) if record.status == "diverged" and xs else None
        seed_lines.append(
            SeedLine(
                seed=seed,
                x=tuple(p[0] for p in points),
                y=tuple(p[1] for p in points),
                status=record.status,
                diverged_x=diverged_x,
            )
        )
    xs_, means, lows, highs, counts = [], [], [], [], []
    for epoch in sorted(epochs):
        found = epochs[epoch]
        stats = interval([v for _, v in found], band=band, confidence=confidence, floor=LOSS_FLOOR)
        xs_.append(math.fsum(px for px, _ in found) / len(found))
        means.append(stats.mean)
        lows.append(stats.low)
        highs.append(stats.high)
        counts.append(stats.n)
    return BandLine(
        label=label,
        x=tuple(xs_),
        mean=tuple(means),
        low=tuple(lows),
        high=tuple(highs),
        count=tuple(counts),
        seeds=len(seeds),
        diverged=sum(r.status == "diverged" for _, r in seeds),
        errors=sum(r.status == "error" for _, r in seeds),
        seed_lines=tuple(sorted(seed_lines, key=lambda s: s.seed)),
    )


def build_bands(
    groups: Sequence[tuple[str, SeedRecords]],
    *,
    x: str = "epoch",
    band: str = "std",
    confidence: float = 0.95,
    show_seeds: bool = False,
    log_y: bool = False,
    log_x: bool = False,
    title: str = "",
) -> BandsData:
    """One mean line and band per config over its seeds, in the order given.

    Args:
        groups: ``(label, [(seed, record), ...])`` per config (the legend order).
        x: ``epoch``, ``step``, ``samples`` or ``seconds`` (for ``seconds`` a point sits at
            the seeds' mean time of that epoch).
        band: ``std`` (mean ± one standard deviation of the seeds) or ``ci`` (t-interval of
            the mean at ``confidence``).
        confidence: coverage of a ``ci`` band.
        show_seeds: also draw every seed's own line.
        log_y, log_x: logarithmic axes (non-positive values are left out on a log y-axis).
        title: panel title.

    Returns:
        Plain data. At each epoch the statistics cover the seeds whose loss is finite there;
        a diverged seed stops counting at its divergence and is named in the legend.

    Raises:
        ConfigError: for an unknown ``x`` or ``band``.
    """
    check_x_axis(x)
    interval([], band=band, confidence=confidence)  # checks band and confidence
    lines = [_band_line(label, seeds, x, band, confidence, log_y) for label, seeds in groups]
    metric = next((r.config.metric for _, seeds in groups for _, r in seeds), "rmse")
    limits = band_limits(lines, log_y=log_y, show_seeds=show_seeds)
    statuses = [record.status for _, seeds in groups for _, record in seeds]
    crosses = [s.diverged_x for line in lines for s in line.seed_lines]
    return BandsData(
        lines=tuple(_mark_off_scale(line, limits) for line in lines),
        x=x,
        x_label=x_axis_label(x, (record for _, seeds in groups for _, record in seeds)),
        y_label=METRIC_LABELS.get(metric, metric),
        y_limits=limits,
        band=band,
        confidence=confidence,
        show_seeds=show_seeds,
        log_y=log_y,
        log_x=log_x,
        title=title,
        note="" if limits is not None or not lines else nothing_to_draw(statuses, log_y),
        x_limits=None if limits is not None else around(crosses, log_x),
    )


def band_limits(
    lines: Sequence[BandLine], *, log_y: bool = False, show_seeds: bool = False
) -> tuple[float, float] | None:
    """y-limits that keep the mean lines whole and let exploding lines or bands leave the axes.

    The mean lines (and seed lines when shown) set the typical level, by the rule of
    :func:`optiscope.plotting.robust_upper_limit` (the single-run figures use it too); band
    edges widen the range only up to ``OFF_SCALE_FACTOR`` times that level
    (``OFF_SCALE_FACTOR_LOG`` on a logarithmic axis). Losses are never negative, so a
    symmetric band that reaches below zero does not stretch the axis below it.
    """
    centre = [[v for v in line.mean if math.isfinite(v)] for line in lines]
    if show_seeds:
        centre += [list(s.y) for line in lines for s in line.seed_lines]
    centre = [c for c in centre if c]
    if not centre:
        return None
    values = [v for c in centre for v in c]
    highs = [v for line in lines for v in line.high if math.isfinite(v)]
    lows = [v for line in lines for v in line.low if math.isfinite(v)]
    level = statistics.median(values)
    factor = OFF_SCALE_FACTOR_LOG if log_y else OFF_SCALE_FACTOR
    cap = factor * level if level > 0 else math.inf
    high = max([robust_upper_limit(centre, log_y=log_y), *(v for v in highs if v <= cap)])
    if log_y:
        positive = [v for v in values + lows if v > 0] or values
        return (min(positive) / 1.15, high * 1.15)
    low = min(values + lows)
    if min(values) >= 0:
        low = max(low, 0.0)
    pad = 0.04 * (high - low) if high > low else 0.05 * max(abs(high), 1e-12)
    return (low - pad, high + pad)


def _mark_off_scale(line: BandLine, limits: tuple[float, float] | None) -> BandLine:
    if limits is None:
        return replace(line, off_scale_x=None, off_scale_note="")
    finite = [(px, py) for px, py in zip(line.x, line.mean, strict=True) if math.isfinite(py)]
    x, note = off_scale([p[0] for p in finite], [p[1] for p in finite], limits[1])
    return replace(line, off_scale_x=x, off_scale_note=note)


def share_limits(panels: Sequence[BandsData]) -> list[BandsData]:
    """The panels with one y-range, so panels side by side compare at a glance."""
    lines = [line for panel in panels for line in panel.lines]
    if not panels:
        return []
    limits = band_limits(lines, log_y=panels[0].log_y, show_seeds=panels[0].show_seeds)
    return [
        replace(
            panel,
            y_limits=limits,
            lines=tuple(_mark_off_scale(line, limits) for line in panel.lines),
        )
        for panel in panels
    ]


@dataclass(frozen=True)
class Difference:
    """A config's final loss minus the baseline's, paired by seed.

    Attributes:
        label: the config.
        baseline: the baseline config.
        n: seeds finished by both.
        mean: mean of the per-seed differences (negative: better than the baseline).
        low, high: the t-interval of the mean difference (NaN with fewer than 2 seeds).
        confidence: the interval's coverage.
    """

    label: str
    baseline: str
    n: int
    mean: float
    low: float
    high: float
    confidence: float = 0.95


def paired_differences(
    finals: Mapping[str, Mapping[int, float]], baseline: str, *, confidence: float = 0.95
) -> list[Difference]:
    """Each config's final loss minus the baseline's, seed by seed, with a t-interval.

    Args:
        finals: config label -> {seed: final validation loss} (finished seeds only).
        baseline: the label to compare with.
        confidence: coverage of the interval.

    Returns:
        One :class:`Difference` per config, in the order of ``finals`` (the baseline's own
        is zero).

    Raises:
        ConfigError: when ``baseline`` is not one of the labels.
    """
    if baseline not in finals:
        raise ConfigError(
            f"baseline {baseline!r} is not a config of this sweep; choose one of: "
            f"{'; '.join(finals)}."
        )
    reference = finals[baseline]
    found = []
    for label, values in finals.items():
        diffs = [
            values[seed] - reference[seed]
            for seed in sorted(values)
            if seed in reference and math.isfinite(values[seed]) and math.isfinite(reference[seed])
        ]
        stats = interval(diffs, band="ci", confidence=confidence)
        low, high = (stats.low, stats.high) if stats.n >= 2 else (math.nan, math.nan)
        found.append(Difference(label, baseline, stats.n, stats.mean, low, high, confidence))
    return found


def render_bands(data: BandsData, ax: Axes | None = None, *, legend: bool = True) -> Figure:
    """Draw seed bands: a mean line and a shaded band per config, seeds thin if asked.

    A diverged seed gets a cross on the top edge at the x where its loss became NaN or inf.

    Args:
        data: from :func:`build_bands`.
        ax: axes to draw into; ``None`` makes a new figure.
        legend: draw the legend.

    Returns:
        The figure.
    """
    fig, ax = new_axes(ax)
    for line, color in zip(data.lines, palette(len(data.lines)), strict=True):
        if data.show_seeds:
            for seed in line.seed_lines:
                ax.plot(seed.x, seed.y, color=color, linewidth=0.7, alpha=0.45)
        ax.fill_between(line.x, line.low, line.high, color=color, alpha=0.2, linewidth=0)
        ax.plot(line.x, line.mean, color=color, label=line.legend, linewidth=1.8)
        if line.off_scale_x is not None:
            draw_off_scale_arrow(ax, line.off_scale_x, color)
        crosses = [s.diverged_x for s in line.seed_lines if s.diverged_x is not None]
        draw_divergence_crosses(ax, crosses, color)
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
    if legend and data.lines:
        ax.legend(title=data.band_label, fontsize="small", frameon=False, loc="best")
    return fig


def render_band_panels(panels: Sequence[BandsData], *, title: str = "") -> Figure:
    """Several band panels side by side with one y-range (one panel per value of a setting).

    One legend for the figure (the lines are the same configs in every panel); a panel gets
    its own small legend only for lines with a note there (diverged seeds, leaving the plot).

    Args:
        panels: from :func:`build_bands` (their y-limits are unified here).
        title: figure title.

    Returns:
        The figure.
    """
    panels = share_limits(panels)
    count = max(len(panels), 1)
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    fig = new_figure((4.2 * columns + 1.8, 3.6 * rows + 0.4))
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False)
    labelled: dict[str, Any] = {}
    for index, ax in enumerate(axes.flat):
        if index >= len(panels):
            ax.set_visible(False)
            continue
        panel = panels[index]
        render_bands(panel, ax, legend=False)
        means = [line for line in ax.get_lines() if line.get_label() in _legends(panel)]
        for handle, line in zip(means, panel.lines, strict=True):
            labelled.setdefault(line.label, handle)
        noted = [(h, ln.legend) for h, ln in zip(means, panel.lines, strict=True)
                 if ln.legend != ln.label]  # fmt: skip
        if noted:
            ax.legend(
                [h for h, _ in noted], [t for _, t in noted], fontsize="x-small", frameon=False
            )
        if index % columns:
            ax.set_ylabel("")
    if labelled:
        fig.legend(
            list(labelled.values()),
            list(labelled),
            title=panels[0].band_label if panels else "",
            loc="outside right upper",
            fontsize="small",
            frameon=False,
        )
    if title:
        fig.suptitle(title)
    return fig


def _legends(panel: BandsData) -> set[str]:
    return {line.legend for line in panel.lines}
