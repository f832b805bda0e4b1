"""``OptimizerComparison``: compare optimizers at equal tuning effort, from a stored sweep.

A sweep over several optimizers, each with its own grid, answers "which optimizer is better?"
only once the tuning effort is fixed: an optimizer tried at its best lr beats one tried at a
bad one. This report gives, per optimizer, the expected best final validation metric after
``k`` random configs of its grid (the unbiased estimator of Tang et al. 2020, with bootstrap
bands: :mod:`optiscope.plotting`'s ``best_of_k``), the paired probability that one tuned
optimizer beats another over seeds, and the checks of Google's deep learning tuning playbook
(https://github.com/google-research/tuning_playbook, "Identifying bad search space
boundaries" and the note on infeasible trials): a best config on the edge of its grid, and a
large share of diverged runs.

One trial is one config trained with one seed (a tuner trains each setting once); estimates
are averaged over the seeds every config of the optimizer finished. A diverged run is a
failed trial. An optimizer's tuned config is the one with the best mean over those seeds among
configs none of whose seeds diverged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.errors import ConfigError
from optiscope.optim import get_optimizer
from optiscope.plotting import (
    FairComparisonData,
    build_fair_comparison,
    figure_png,
    render_fair_comparison,
    save_figure,
)
from optiscope.settings import METRICS, format_value
from optiscope.storage import StoredRun

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from optiscope.api._sweep_result import SweepResult

__all__ = ["FLAG_KINDS", "OptimizerComparison", "TuningFlag", "compare_optimizers"]

#: What a :class:`TuningFlag` reports: ``edge`` (the best config sits on the edge of a swept
#: setting's range), ``diverged`` (many runs diverged), ``incomplete`` (no seed on which every
#: config of the optimizer finished: nothing to estimate).
FLAG_KINDS: tuple[str, ...] = ("edge", "diverged", "incomplete")

#: A flagged share of diverged runs: above a quarter, the grid spends much of its budget on
#: settings that cannot work (the playbook asks to look at the search space then).
DIVERGED_SHARE = 0.25


@dataclass(frozen=True)
class TuningFlag:
    """A reason to distrust one optimizer's numbers.

    Attributes:
        optimizer: whose grid.
        kind: one of :data:`FLAG_KINDS`.
        setting: for ``edge``, the swept setting (``lr``).
        value: for ``edge``, the tuned config's value of it.
        values: for ``edge``, the values the grid tried, in order.
        side: for ``edge``, ``smallest`` or ``largest``.
        diverged: for ``diverged``, the runs that diverged.
        runs: for ``diverged``, the runs counted.
    """

    optimizer: str
    kind: str
    setting: str | None = None
    value: Any = None
    values: tuple[Any, ...] = ()
    side: str = ""
    diverged: int = 0
    runs: int = 0

    def __str__(self) -> str:
        if self.kind == "edge":
            tried = ", ".join(format_value(v) for v in self.values)
            return (
                f"{self.optimizer}: its best {self.setting} = {format_value(self.value)} is "
                f"the {self.side} value of its grid ({tried}); the best may lie beyond it"
            )
        if self.kind == "diverged":
            return (
                f"{self.optimizer}: {self.diverged} of {self.runs} runs diverged "
                f"({self.diverged / self.runs:.0%})"
            )
        return f"{self.optimizer}: no seed on which every config finished; nothing to estimate"


class _Grid:
    """One optimizer's configs, their runs by seed, and what is estimated from them."""

    def __init__(self, optimizer: str) -> None:
        self.optimizer = optimizer
        self.configs: dict[str, dict[str, Any]] = {}  # label -> settings
        self.runs: dict[str, dict[int, StoredRun]] = {}  # label -> seed -> run

    def add(self, run: StoredRun) -> None:
        label = str(run.labels.get("label", "config"))
        self.configs.setdefault(label, dict(run.labels.get("settings", {})))
        seed = int(run.labels.get("seed", run.config.seed))
        self.runs.setdefault(label, {})[seed] = run

    @property
    def seeds(self) -> list[int]:
        """Seeds on which every config finished (done or diverged)."""
        found: set[int] | None = None
        for by_seed in self.runs.values():
            ended = {s for s, r in by_seed.items() if r.status in ("done", "diverged")}
            found = ended if found is None else found & ended
        return sorted(found or ())

    def value(self, label: str, seed: int) -> float:
        """Final validation value; NaN for a diverged run (a failed trial)."""
        run = self.runs[label][seed]
        curve = run.curve
        if run.status != "done" or curve is None or not curve.valid_loss:
            return math.nan
        final = float(curve.valid_loss[-1])
        return final if math.isfinite(final) else math.nan

    def table(self) -> list[list[float]]:
        """Final values, ``(seeds, configs)``."""
        return [[self.value(label, s) for label in self.configs] for s in self.seeds]

    def tuned(self, goal: str) -> str | None:
        """The config with the best mean over :attr:`seeds` among those that never diverged."""
        seeds = self.seeds
        means = {}
        for label in self.configs:
            values = [self.value(label, s) for s in seeds]
            if values and all(math.isfinite(v) for v in values):
                means[label] = math.fsum(values) / len(values)
        if not means:
            return None
        pick = min if goal == "min" else max
        return pick(means, key=lambda label: means[label])


def _floor(optimizer: str, setting: str) -> float | None:
    """The least value the optimizer allows for a hyperparameter (``weight_decay``: 0)."""
    try:
        specs = get_optimizer(optimizer).hparams
    except ConfigError:
        return None
    return next((s.low for s in specs if s.name == setting and not s.low_open), None)


def _edge_flags(grid: _Grid, tuned: str) -> list[TuningFlag]:
    """Numeric settings with three or more values in the grid whose tuned value is an end.

    With two values every choice is an end, which says nothing; the flag needs three. The
    least value a hyperparameter can take (weight decay 0) is an end no grid can extend past:
    it is not flagged.
    """
    flags = []
    chosen = grid.configs[tuned]
    for setting in dict.fromkeys(k for s in grid.configs.values() for k in s):
        if setting == "optimizer":
            continue
        values = {
            v
            for s in grid.configs.values()
            if isinstance(v := s.get(setting), int | float) and not isinstance(v, bool)
        }
        value = chosen.get(setting)
        if len(values) < 3 or value not in values:
            continue
        ordered = tuple(sorted(values))
        if value == ordered[0] and value == _floor(grid.optimizer, setting):
            continue
        if value in (ordered[0], ordered[-1]):
            side = "smallest" if value == ordered[0] else "largest"
            flags.append(TuningFlag(grid.optimizer, "edge", setting, value, ordered, side))
    return flags


class OptimizerComparison:
    """Optimizers compared at equal tuning effort (see the module's docstring).

    Attributes:
        name: the sweep's name.
        metric: the validation metric (``rmse``).
        goal: ``min`` when lower is better, ``max`` when higher is.
        data: the figure's data (:class:`~optiscope.plotting.FairComparisonData`).
        flags: the playbook's checks that fired (:class:`TuningFlag`).
    """

    def __init__(
        self,
        name: str,
        metric: str,
        goal: str,
        grids: Sequence[_Grid],
        data: FairComparisonData,
        flags: Sequence[TuningFlag],
    ) -> None:
        self.name = name
        self.metric = metric
        self.goal = goal
        self.data = data
        self.flags = list(flags)
        self._grids = list(grids)

    @property
    def optimizers(self) -> list[str]:
        """The compared optimizers, in the sweep's order."""
        return [g.optimizer for g in self._grids]

    @property
    def curves(self) -> pd.DataFrame:
        """One row per optimizer and budget: ``optimizer``, ``budget``, ``expected``,
        ``low``, ``high``, ``all_failed``."""
        import pandas as pd

        rows = [
            {
                "optimizer": line.label,
                "budget": k,
                "expected": e,
                "low": lo,
                "high": hi,
                "all_failed": f,
            }
            for line in self.data.lines
            for k, e, lo, hi, f in zip(
                line.budgets, line.expected, line.low, line.high, line.all_failed, strict=True
            )
        ]
        return pd.DataFrame(rows)

    def table(self, budgets: Sequence[int] | None = None) -> pd.DataFrame:
        """One row per optimizer: its grid, diverged runs, tuned config, expected bests.

        Args:
            budgets: the budgets to give a column ``best_of_k`` each (with ``_low`` and
                ``_high``); default 1, 2, 4, ... up to the largest grid, and each grid's size.

        Returns:
            Columns ``optimizer``, ``configs``, ``seeds``, ``runs``, ``diverged``,
            ``tuned`` (label), ``tuned_mean``, then the budgets' columns (NaN past a grid).
        """
        import pandas as pd

        lines = {line.label: line for line in self.data.lines}
        if budgets is None:
            most = max((len(line.budgets) for line in lines.values()), default=1)
            wanted = {2**i for i in range(int(math.log2(most)) + 1)}
            wanted |= {len(line.budgets) for line in lines.values()}
            budgets = sorted(wanted)
        rows = []
        for grid in self._grids:
            seeds = grid.seeds
            values = [grid.value(label, s) for label in grid.configs for s in seeds]
            tuned = grid.tuned(self.goal)
            row: dict[str, Any] = {
                "optimizer": grid.optimizer,
                "configs": len(grid.configs),
                "seeds": len(seeds),
                "runs": len(values),
                "diverged": sum(1 for v in values if math.isnan(v)),
                "tuned": tuned,
                "tuned_mean": (
                    math.fsum(grid.value(tuned, s) for s in seeds) / len(seeds)
                    if tuned is not None
                    else math.nan
                ),
            }
            line = lines.get(grid.optimizer)
            for k in budgets:
                inside = line is not None and k <= len(line.budgets)
                for suffix, series in (("", "expected"), ("_low", "low"), ("_high", "high")):
                    value = getattr(line, series)[k - 1] if inside and line else math.nan
                    row[f"best_of_{k}{suffix}"] = value
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def improvement(self) -> pd.DataFrame:
        """Pairs of tuned optimizers: ``optimizer``, ``other``, ``probability`` that the first
        beats the second (paired over shared seeds), ``low``, ``high``."""
        import pandas as pd

        names = self.data.optimizers
        rows = [
            {
                "optimizer": a,
                "other": b,
                "probability": self.data.improvement[i][j],
                "low": self.data.improvement_low[i][j],
                "high": self.data.improvement_high[i][j],
            }
            for i, a in enumerate(names)
            for j, b in enumerate(names)
            if i != j
        ]
        return pd.DataFrame(rows, columns=["optimizer", "other", "probability", "low", "high"])

    def plot(self) -> Figure:
        """Expected best against budget with bands, and the probability-of-improvement matrix."""
        return render_fair_comparison(self.data)

    def save(self, path: str | Path) -> Path:
        """Save :meth:`plot`'s figure as PNG, SVG or PDF (by suffix); returns the path."""
        return save_figure(self.plot(), path, close=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The table, the curves, the pairs and the flags (NaN: null)."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            frame = frame.astype(object)
            rows = frame.where(frame.notna(), None).to_dict(orient="records")
            return [{str(k): v for k, v in row.items()} for row in rows]

        return {
            "name": self.name,
            "metric": self.metric,
            "goal": self.goal,
            "table": records(self.table()),
            "curves": records(self.curves),
            "improvement": records(self.improvement),
            "flags": [{**vars(f), "values": list(f.values), "text": str(f)} for f in self.flags],
        }

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def __repr__(self) -> str:
        return (
            f"OptimizerComparison({self.name!r}: {', '.join(self.optimizers)}; "
            f"{len(self.flags)} flags)"
        )


def _lower_first(text: str) -> str:
    """``Validation RMSE`` -> ``validation RMSE``, to follow other words in a label."""
    return text[:1].lower() + text[1:]


def compare_optimizers(
    result: SweepResult,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    diverged_share: float = DIVERGED_SHARE,
) -> OptimizerComparison:
    """Compare a sweep's optimizers at equal tuning effort (:meth:`SweepResult.compare_optimizers`).

    Raises:
        ConfigError: when the sweep mixes validation metrics (their values do not compare),
            or for a bad ``resamples``, ``confidence`` or ``diverged_share``.
    """
    if not 0.0 <= diverged_share <= 1.0:
        raise ConfigError(
            f"diverged_share = {diverged_share!r} must be a share between 0 and 1, e.g. 0.25."
        )
    metrics = sorted({run.config.metric for run in result.runs})
    if len(metrics) > 1:
        raise ConfigError(
            f"sweep {result.name!r} mixes validation metrics ({', '.join(metrics)}), whose "
            f"values do not compare; compare a sweep with one metric."
        )
    metric = metrics[0] if metrics else "rmse"
    goal = "max" if METRICS[metric].higher_is_better else "min"
    grids: dict[str, _Grid] = {}
    for run in result.runs:
        grids.setdefault(run.config.optimizer, _Grid(run.config.optimizer)).add(run)
    flags: list[TuningFlag] = []
    tables, tuned = {}, {}
    for grid in grids.values():
        seeds = grid.seeds
        if not seeds:
            flags.append(TuningFlag(grid.optimizer, "incomplete"))
            continue
        table = grid.table()
        tables[grid.optimizer] = table
        failed = sum(1 for row in table for v in row if math.isnan(v))
        total = sum(len(row) for row in table)
        if failed > diverged_share * total:
            flags.append(TuningFlag(grid.optimizer, "diverged", diverged=failed, runs=total))
        best = grid.tuned(goal)
        if best is not None:
            tuned[grid.optimizer] = {s: grid.value(best, s) for s in seeds}
            flags += _edge_flags(grid, best)
    data = build_fair_comparison(
        tables,
        tuned,
        goal=goal,
        metric_label=_lower_first(METRICS[metric].label),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        title=f"{result.name}: optimizers at equal tuning budget",
    )
    return OptimizerComparison(result.name, metric, goal, list(grids.values()), data, flags)
