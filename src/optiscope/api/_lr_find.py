"""``lr_find``: Leslie Smith's lr range test, fastai's suggestions, and a check of them.

A range test is cheap (100 steps) and its suggestions are heuristics. This function runs the
test for several optimizers and seeds at once (one stacked model, see
:mod:`optiscope.engine`'s ``lr_range_test``), marks fastai's four suggestions (valley, slide,
minimum, steep: :mod:`optiscope.api._lr_suggestions`), and then checks them: it trains a
short sweep of constant lrs through the normal pipeline (the same plan, engine and checks as
:func:`~optiscope.sweep`, on an in-memory store), and reports how far each suggestion lands
from the lr that trained best, in decades, over the seeds.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optiscope.api._lr_suggestions import SUGGESTIONS, suggest
from optiscope.engine import LrRange, lr_range_test
from optiscope.errors import ConfigError
from optiscope.plotting import (
    LrFindData,
    LrFindPanel,
    RangeLine,
    build_check,
    build_lr_find,
    figure_png,
    render_lr_find,
    save_figure,
)
from optiscope.records import RunConfig
from optiscope.settings import METRICS, format_value
from optiscope.storage import SqliteStore
from optiscope.sweeps import SweepSpec, plan, run_sweep

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["LrFindResult", "lr_find"]

#: The check sweep's lrs per decade when none are given.
CHECK_PER_DECADE = 2


def _key(config: RunConfig) -> str:
    """A config without its lr, seed and epochs: what a range test and a check share."""
    data = config.to_dict()
    data["hparams"] = {k: v for k, v in dict(data["hparams"]).items() if k != "lr"}
    for name in ("seed", "epochs"):
        data.pop(name, None)
    return json.dumps(data, sort_keys=True, default=str)


def _check_grid(suggested: Sequence[float], min_lr: float, max_lr: float) -> list[float]:
    """Half-decade lrs covering every suggestion, a decade beyond each end, within the test's
    range: so the check can say whether the best lr lies below or above them."""
    finite = [v for v in suggested if math.isfinite(v) and v > 0]
    if not finite:
        return []
    low = math.floor(math.log10(min(finite))) - 1
    high = math.ceil(math.log10(max(finite))) + 1
    exponents = np.arange(low, high + 1e-9, 1 / CHECK_PER_DECADE)
    grid = [float(f"{10.0**e:.3g}") for e in exponents]
    return [lr for lr in grid if min_lr <= lr <= max_lr]


class LrFindResult:
    """What :func:`lr_find` found: range tests, suggestions, and their check.

    Attributes:
        ranges: one :class:`~optiscope.engine.LrRange` per config and seed.
        labels: each config's label, by key (``optimizer = adam``).
        suggestions: per config label and method, per seed ``(lr, marked lr, marked loss)``.
        checks: per config label, the check sweep's final values: ``{lr: [per seed]}``.
        metric: the check's validation metric; goal: ``min`` or ``max``.
        steps: the range test's steps.
        seconds: wall-clock time of the range test and of the check.
    """

    def __init__(
        self,
        ranges: Sequence[LrRange],
        labels: Sequence[str],
        suggestions: Mapping[str, Mapping[str, Sequence[tuple[float, float, float]]]],
        checks: Mapping[str, Mapping[float, Sequence[float]]],
        *,
        metric: str,
        goal: str,
        steps: int,
        seconds: Mapping[str, float],
    ) -> None:
        self.ranges = list(ranges)
        self.labels = list(labels)
        self.suggestions = {k: dict(v) for k, v in suggestions.items()}
        self.checks = {k: dict(v) for k, v in checks.items()}
        self.metric, self.goal, self.steps = metric, goal, steps
        self.seconds = dict(seconds)

    @property
    def data(self) -> LrFindData:
        """The figure's data."""
        panels = []
        for label in dict.fromkeys(self.labels):
            ranges = tuple(
                RangeLine(r.config.seed, r.lrs, r.smoothed)
                for r, own in zip(self.ranges, self.labels, strict=True)
                if own == label
            )
            check = self.checks.get(label)
            panels.append(
                LrFindPanel(
                    label,
                    ranges,
                    {m: tuple(p) for m, p in self.suggestions[label].items()},
                    build_check(check, self.goal) if check else None,
                )
            )
        return build_lr_find(
            panels,
            metric_label=METRICS[self.metric].label[:1].lower() + METRICS[self.metric].label[1:],
            goal=self.goal,
            title=f"lr range test ({self.steps} steps) and its check",
        )

    def table(self) -> pd.DataFrame:
        """One row per config and suggestion method.

        Columns: ``config``, ``method``, ``seeds``, ``lr`` (median over seeds), ``lr_low``,
        ``lr_high`` (least and largest over seeds), ``best_lr`` (the check's best constant lr
        by mean), ``decades`` (median over seeds of ``log10(suggested / best_lr)``: negative
        is below the best), ``decades_low``, ``decades_high``, ``at_suggestion`` (the check's
        mean final metric at the median suggestion, interpolated in log lr; NaN outside the
        checked lrs or next to an lr where a seed diverged), ``at_best``, and ``best_on_edge``
        (the best lr is the least or largest checked: the true best may lie beyond).
        """
        import pandas as pd

        rows = []
        for label, methods in self.suggestions.items():
            check = self.checks.get(label)
            line = build_check(check, self.goal) if check else None
            best = line.best_lr if line is not None else math.nan
            for method, points in methods.items():
                lrs = [p[0] for p in points if math.isfinite(p[0])]
                middle = statistics.median(lrs) if lrs else math.nan
                off = [math.log10(v / best) for v in lrs] if math.isfinite(best) else []
                rows.append(
                    {
                        "config": label,
                        "method": method,
                        "seeds": len(lrs),
                        "lr": middle,
                        "lr_low": min(lrs, default=math.nan),
                        "lr_high": max(lrs, default=math.nan),
                        "best_lr": best,
                        "decades": statistics.median(off) if off else math.nan,
                        "decades_low": min(off, default=math.nan),
                        "decades_high": max(off, default=math.nan),
                        "at_suggestion": _at(line, middle) if line is not None else math.nan,
                        "at_best": (
                            line.mean[line.lrs.index(best)]
                            if line is not None and math.isfinite(best)
                            else math.nan
                        ),
                        "best_on_edge": bool(
                            line is not None and best in (line.lrs[0], line.lrs[-1])
                        ),
                    }
                )
        return pd.DataFrame(rows)

    def plot(self) -> Figure:
        """One row per config: the range tests with suggestions, and the check."""
        return render_lr_find(self.data)

    def save(self, path: str | Path) -> Path:
        """Save :meth:`plot`'s figure as PNG, SVG or PDF (by suffix); returns the path."""
        return save_figure(self.plot(), path, close=True)

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def __repr__(self) -> str:
        configs = len(dict.fromkeys(self.labels))
        checked = "checked" if self.checks else "not checked"
        return (
            f"LrFindResult({configs} configs x seeds = {len(self.ranges)} range tests; {checked})"
        )


def _at(line: Any, lr: float) -> float:
    """The check's mean at ``lr``, linear in log lr between the two checked lrs around it."""
    lrs, means = line.lrs, line.mean
    if not math.isfinite(lr) or not lrs or not lrs[0] <= lr <= lrs[-1]:
        return math.nan
    logs = [math.log10(v) for v in lrs]
    return float(np.interp(math.log10(lr), logs, means))


def lr_find(
    optimizer: str | Sequence[str] | None = None,
    *,
    seeds: int | Sequence[int] = 3,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    check: bool = True,
    check_lrs: Sequence[float] | None = None,
    settings: Mapping[str, Any] | None = None,
    engine: str | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> LrFindResult:
    """Run Leslie Smith's lr range test, mark fastai's suggestions, and check them.

    Args:
        optimizer: one optimizer or several (default: the sweep default, AdamW).
        seeds: ``3`` for seeds 0-2, or a list; each seed is its own range test and its own
            check run.
        min_lr, max_lr, steps: the exponential ramp (fastai's defaults: 1e-7 to 10 in 100
            steps); a test stops early where its smoothed loss passes 4x its best.
        check: train the check sweep (constant lrs, through the normal pipeline).
        check_lrs: the check's lrs; default: half-decades from a decade below the least
            suggestion to a decade above the largest, within ``min_lr .. max_lr``.
        settings: any other settings of :data:`optiscope.SETTINGS` (``{"batch_size": 32,
            "momentum": 0.9, "dataset": "friedman1", "epochs": 10}``); a list sweeps them
            (each value gets its own range test). ``epochs`` is the check's; so is an lr
            ``schedule`` (the check's lrs are then its base lrs; the range test's schedule
            is its ramp).
        engine, workers, progress: for the check sweep, as :func:`~optiscope.sweep`.

    Returns:
        An :class:`LrFindResult` (``table()``, ``plot()``, ``save()``).

    Raises:
        ConfigError: for a bad setting (every config is checked before anything trains), an
            lr among ``settings`` (the test sweeps it), several metrics, or a bad range.
    """
    given = dict(settings or {})
    if "lr" in given:
        raise ConfigError(
            "lr-find sweeps the lr itself; leave lr out of settings (check_lrs sets the "
            f"check's lrs), got lr = {format_value(given['lr'])}."
        )
    if optimizer is not None:
        given["optimizer"] = [optimizer] if isinstance(optimizer, str) else list(optimizer)
    checked = plan(SweepSpec.from_values(given, seeds=seeds, name="lr-find"))
    configs = [p.config for p in checked.points]
    labels = [_label(p.settings) for p in checked.points]
    metrics = sorted({c.metric for c in configs})
    if len(metrics) > 1:
        raise ConfigError(
            f"lr-find checks every config by one validation metric; got {', '.join(metrics)}. "
            f"Give one metric."
        )
    metric = metrics[0]
    started = time.perf_counter()
    ranges = lr_range_test(configs, min_lr=min_lr, max_lr=max_lr, steps=steps, data=checked.data)
    seconds = {"range_test": time.perf_counter() - started}
    found: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for label, test in zip(labels, ranges, strict=True):
        marks = suggest(test.lrs, test.smoothed, steps)
        for method in SUGGESTIONS:
            found.setdefault(label, {}).setdefault(method, []).append(marks[method])
    checks: dict[str, dict[float, list[float]]] = {}
    if check:
        grid = list(check_lrs) if check_lrs is not None else _check_grid(
            [p[0] for methods in found.values() for ps in methods.values() for p in ps],
            min_lr,
            max_lr,
        )  # fmt: skip
        if grid:
            started = time.perf_counter()
            checks = _run_check(given, grid, seeds, labels, configs, engine, workers, progress)
            seconds["check"] = time.perf_counter() - started
    return LrFindResult(
        ranges,
        labels,
        found,
        checks,
        metric=metric,
        goal="max" if METRICS[metric].higher_is_better else "min",
        steps=steps,
        seconds=seconds,
    )


def _label(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {format_value(v)}" for k, v in settings.items()) or "config"


def _run_check(
    given: Mapping[str, Any],
    grid: Sequence[float],
    seeds: int | Sequence[int],
    labels: Sequence[str],
    configs: Sequence[RunConfig],
    engine: str | None,
    workers: int | None,
    progress: bool,
) -> dict[str, dict[float, list[float]]]:
    """Train the check sweep on an in-memory store; final values by label, lr and seed."""
    spec = SweepSpec.from_values({**given, "lr": list(grid)}, seeds=seeds, name="lr-find-check")
    checked = plan(spec, max_configs=None)
    by_key = {_key(c): label for c, label in zip(configs, labels, strict=True)}
    out: dict[str, dict[float, list[float]]] = {}
    with SqliteStore.in_memory() as store:
        run = run_sweep(
            checked,
            store=store,
            engine=engine,
            workers=workers,
            progress=progress,
            checkpoints=None,
        )
        for stored in store.runs(run.name):
            record = stored.record
            if record is None:
                continue
            lr = float(stored.config.hparam_dict["lr"])  # type: ignore[arg-type]
            final = record.curve.valid_loss[-1] if record.curve.valid_loss else math.nan
            value = final if record.status == "done" and math.isfinite(final) else math.nan
            label = by_key.get(_key(stored.config))
            if label is None:  # (cannot happen: the check varies only the lr of the test's)
                raise ConfigError(f"check run {stored.config} matches no range test")
            out.setdefault(label, {}).setdefault(lr, []).append(value)
    return out
