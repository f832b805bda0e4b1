"""``SweepResult``: a stored sweep as a tidy frame, a ranked summary, band figures, exports.

It is built from the store, never from a running sweep's memory, so a figure drawn at the end
of a sweep and one drawn later by ``optiscope runs plot`` are the same figure.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.api._decision import decision_data
from optiscope.errors import ConfigError
from optiscope.optim import get_optimizer
from optiscope.plotting import (
    LOSS_FLOOR,
    SLICE_METRICS,
    BandsData,
    CurvesData,
    DecisionData,
    SliceData,
    build_bands,
    build_lr_curves,
    build_slices,
    figure_html,
    figure_png,
    interval,
    paired_differences,
    render_band_panels,
    render_bands,
    render_curves,
    render_decision_boundaries,
    save_figure,
)
from optiscope.records import RunConfig, RunRecord
from optiscope.settings import METRICS, Metric, default, format_value
from optiscope.storage import FINISHED, SqliteStore, StoredRun
from optiscope.sweeps import SweepPoint, SweepRun, SweepSpec, open_store

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from optiscope.api._fair import OptimizerComparison

__all__ = ["EXPORT_FORMATS", "SweepResult", "figure_title", "fixed_settings"]

#: File suffixes :meth:`SweepResult.export` writes.
EXPORT_FORMATS: tuple[str, ...] = (".csv", ".parquet")

StoreArg = SqliteStore | str | Path | None


def _sort_key(value: Any) -> tuple[Any, ...]:
    """Order values by kind, then by value: numbers numerically (0.001 before 0.1)."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, list | tuple):
        return (3, tuple(_sort_key(v) for v in value))
    return (4, repr(value))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return not isinstance(a, bool) and not isinstance(b, bool) and float(a) == float(b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class _Group:
    """One config of the sweep and its seeds."""

    def __init__(self, label: str, settings: Mapping[str, Any]) -> None:
        self.label = label
        self.settings = dict(settings)
        self.runs: list[StoredRun] = []

    @property
    def seeds(self) -> list[tuple[int, RunRecord]]:
        """``(seed, record)`` of the finished seeds (error runs included, for the legend)."""
        found = []
        for run in self.runs:
            record = run.record
            if record is not None:
                found.append((int(run.labels.get("seed", run.config.seed)), record))
        return found

    def finals(self) -> dict[int, float]:
        """Final validation loss per seed, for seeds trained to the end (``done``)."""
        return {
            seed: record.curve.valid_loss[-1]
            for seed, record in self.seeds
            if record.status == "done" and record.curve.valid_loss
        }


class SweepResult:
    """A sweep as stored: its runs, a tidy frame, a ranked summary, band figures, exports.

    Build it with :func:`sweep` or :meth:`load`.

    Attributes:
        name: the sweep's name.
        spec: its spec.
        store: the store file it was read from.
        runs: every run in sweep order (:class:`~optiscope.storage.StoredRun`: status,
            start count, timestamps, curve).
        run: what the :func:`sweep` call that made it did (configs trained, skipped,
            recovered), or ``None`` when loaded.
    """

    def __init__(
        self,
        name: str,
        spec: SweepSpec,
        runs: Sequence[StoredRun],
        store: Path,
        run: SweepRun | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.runs = list(runs)
        self.store = store
        self.run = run
        groups: dict[str, _Group] = {}
        for stored in self.runs:
            label = str(stored.labels.get("label", "config"))
            group = groups.setdefault(label, _Group(label, stored.labels.get("settings", {})))
            group.runs.append(stored)
        # Swept settings in order of appearance (explicit configs may each set others).
        self._keys = list(dict.fromkeys(k for g in groups.values() for k in g.settings))
        self._groups = sorted(
            groups.values(),
            key=lambda g: tuple(_sort_key(g.settings.get(k)) for k in self._keys),
        )

    @classmethod
    def load(cls, name: str, *, store: StoreArg = None, run: SweepRun | None = None) -> SweepResult:
        """Read a sweep from the store (figures and tables work while it is still running).

        Raises:
            StorageError: when there is no store or no such sweep (the message lists them).
        """
        target, owned = open_store(store, create=False)
        try:
            info = target.sweep_info(name)
            runs = target.runs(name)
            return cls(name, SweepSpec.from_dict(info.spec), runs, target.path, run)
        finally:
            if owned:
                target.close()

    @classmethod
    def planned(cls, spec: SweepSpec, points: Sequence[SweepPoint]) -> SweepResult:
        """The sweep as it will be stored, before anything trained: every run pending.

        Lets a command check what it will show at the end (a baseline, a facet) before a long
        sweep runs, with the same checks that the finished result makes.
        """
        runs = [
            StoredRun(
                position=p.number - 1,
                key=p.config.key(),
                config=p.config,
                labels=p.labels,
                status="pending",
            )
            for p in points
        ]
        return cls(spec.resolved_name, spec, runs, Path())

    def check_view(self, baseline: str | Mapping[str, Any] | None, facet: str | None) -> None:
        """Raise :class:`ConfigError` now if ``summary(baseline)`` or ``plot(facet=facet)``
        would refuse them."""
        if baseline is not None:
            self._baseline_label(baseline)
        self._facet(facet)

    # -- plain views -------------------------------------------------------------------------

    @property
    def settings(self) -> list[str]:
        """The swept settings (the columns that tell configs apart)."""
        return list(self._keys)

    @property
    def labels(self) -> list[str]:
        """Config labels without seeds, ordered by value (the legend order)."""
        return [g.label for g in self._groups]

    @property
    def _metric(self) -> Metric:
        """The runs' validation metric (the first run's, where a sweep varies it): its label
        and which way is better."""
        return METRICS[self.runs[0].config.metric if self.runs else default("metric")]

    @property
    def records(self) -> list[RunRecord]:
        """The finished runs' records, in sweep order."""
        return [r.record for r in self.runs if r.record is not None]

    @property
    def counts(self) -> dict[str, int]:
        """How many runs have each status."""
        found = dict.fromkeys(("pending", "running", "done", "diverged", "error"), 0)
        for run in self.runs:
            found[run.status] += 1
        return found

    @property
    def complete(self) -> bool:
        """Every config finished (``done`` or ``diverged``)."""
        return all(run.status in FINISHED for run in self.runs)

    @property
    def frame(self) -> pd.DataFrame:
        """A tidy frame: one row per run and epoch.

        Columns: ``number`` (config number), ``config`` (label without seed; ordered
        categorical, ordered by value), each swept setting, ``seed``, ``status``, ``key``,
        ``epoch``, ``step``, ``samples``, ``seconds``, ``valid_loss``, ``train_loss``,
        ``epoch_lr`` (the lr of the epoch's last step, as its schedule set it; NaN for runs
        stored before lrs were recorded; ``lr``, when swept, is the base lr).
        Unfinished runs have no rows; a diverged run's last loss may be NaN or inf.
        """
        import pandas as pd

        columns: dict[str, list[Any]] = {
            name: []
            for name in (
                "number",
                "config",
                *self._keys,
                "seed",
                "status",
                "key",
                "epoch",
                "step",
                "samples",
                "seconds",
                "valid_loss",
                "train_loss",
                "epoch_lr",
            )
        }
        for run in self.runs:
            if run.curve is None:
                continue
            curve = run.curve
            length = len(curve)
            fixed = {
                "number": run.position + 1,
                "config": run.labels.get("label", "config"),
                "seed": run.labels.get("seed", run.config.seed),
                "status": run.status,
                "key": run.key,
            }
            for key in self._keys:
                value = run.labels.get("settings", {}).get(key)
                fixed[key] = format_value(value) if isinstance(value, list | tuple) else value
            for name, value in fixed.items():
                columns[name] += [value] * length
            for name in ("epoch", "step", "samples", "seconds", "valid_loss", "train_loss"):
                columns[name] += list(getattr(curve, name))
            columns["epoch_lr"] += list(curve.lr) if curve.lr else [math.nan] * length
        frame = pd.DataFrame(columns)
        frame["config"] = pd.Categorical(frame["config"], categories=self.labels, ordered=True)
        return frame

    # -- summary -----------------------------------------------------------------------------

    def _baseline_label(self, baseline: str | Mapping[str, Any]) -> str:
        if isinstance(baseline, str):
            if baseline in self.labels:
                return baseline
            raise ConfigError(
                f"baseline {baseline!r} is not a config of sweep {self.name!r}; choose one of: "
                f"{'; '.join(self.labels)}."
            )
        unknown = [k for k in baseline if k not in self._keys]
        if unknown:
            raise ConfigError(
                f"baseline names {', '.join(unknown)}, which sweep {self.name!r} does not vary; "
                f"it varies: {', '.join(self._keys) or 'nothing (seeds only)'}."
            )
        matches = [
            g.label
            for g in self._groups
            if all(_same(g.settings.get(k), v) for k, v in baseline.items())
        ]
        if len(matches) != 1:
            wanted = ", ".join(f"{k} = {format_value(v)}" for k, v in baseline.items())
            which = f"{len(matches)} configs match" if matches else "no config matches"
            raise ConfigError(
                f"baseline {wanted}: {which}; name one config of: {'; '.join(self.labels)}."
            )
        return matches[0]

    def summary(
        self, baseline: str | Mapping[str, Any] | None = None, *, confidence: float = 0.95
    ) -> pd.DataFrame:
        """One row per config, ranked by mean final validation loss over its seeds.

        Configs whose seeds all finished come first, best mean final value first (lowest
        for a loss, highest for accuracy: the metric's direction); configs with a diverged,
        failed or unfinished seed follow, marked in ``status``. ``best_mean`` takes each
        seed's best epoch in the same direction.

        Args:
            baseline: a config to compare with, by label (``"lr = 0.01"``) or settings
                (``{"lr": 0.01}``); adds ``diff_*`` columns: the mean of the per-seed
                differences (config minus baseline; negative is better for a loss, positive
                for accuracy) and its t-interval.
            confidence: coverage of the intervals.

        Returns:
            Columns: ``rank``, ``config``, the swept settings, ``status``, ``seeds``,
            ``done``, ``diverged``, ``final_mean``, ``final_sd``, ``final_ci_low``,
            ``final_ci_high``, ``best_mean`` (mean over seeds of each seed's best epoch),
            and with a baseline ``diff_mean``, ``diff_ci_low``, ``diff_ci_high``, ``pairs``.
        """
        import pandas as pd

        differences = {}
        if baseline is not None:
            reference = self._baseline_label(baseline)
            by_label = {g.label: g.finals() for g in self._groups}
            found = paired_differences(by_label, reference, confidence=confidence)
            differences = {d.label: d for d in found}
        higher = self._metric.higher_is_better
        best_of = max if higher else min
        rows = []
        for group in self._groups:
            statuses = [run.status for run in group.runs]
            finals = list(group.finals().values())
            stats = interval(finals, band="ci", confidence=confidence, floor=LOSS_FLOOR)
            bests = []
            for _, record in group.seeds:
                finite = [v for v in record.curve.valid_loss if math.isfinite(v)]
                if record.status == "done" and finite:
                    bests.append(best_of(finite))
            row: dict[str, Any] = {"config": group.label}
            for key in self._keys:
                value = group.settings.get(key)
                row[key] = format_value(value) if isinstance(value, list | tuple) else value
            row["status"] = _group_status(statuses)
            row.update(
                seeds=len(statuses),
                done=statuses.count("done"),
                diverged=statuses.count("diverged"),
                final_mean=stats.mean,
                final_sd=stats.std,
                final_ci_low=stats.low if stats.n >= 2 else math.nan,
                final_ci_high=stats.high if stats.n >= 2 else math.nan,
                best_mean=math.fsum(bests) / len(bests) if bests else math.nan,
            )
            if differences:
                diff = differences[group.label]
                row.update(
                    diff_mean=diff.mean,
                    diff_ci_low=diff.low,
                    diff_ci_high=diff.high,
                    pairs=diff.n,
                )
            rows.append(row)
        sign = -1.0 if higher else 1.0  # best first, by the metric's direction
        rows.sort(
            key=lambda r: (
                r["status"] != "done",
                math.isnan(r["final_mean"]),
                sign * r["final_mean"] if not math.isnan(r["final_mean"]) else 0.0,
            )
        )
        frame = pd.DataFrame(rows)
        frame.insert(0, "rank", range(1, len(rows) + 1))
        return frame

    # -- figures -----------------------------------------------------------------------------

    def _facet(self, facet: str | None) -> str | None:
        if facet == "auto":
            return self._keys[0] if len(self._keys) >= 2 else None
        if facet is not None and facet not in self._keys:
            raise ConfigError(
                f"facet = {facet!r} is not a swept setting of {self.name!r}; choose one of: "
                f"{', '.join(self._keys) or '(none: only seeds vary)'}, or None."
            )
        return facet

    def plot_data(
        self,
        x: str = "epoch",
        *,
        band: str = "std",
        confidence: float = 0.95,
        seeds: bool = False,
        log_y: bool = False,
        log_x: bool = False,
        facet: str | None = "auto",
        labels: Sequence[str] | None = None,
    ) -> list[BandsData]:
        """The figure as plain data: one :class:`~optiscope.plotting.BandsData` per panel.

        Args: as :meth:`plot`, and ``labels``: draw only these configs (by label; the web
        page's top-k and hide-diverged filters), ``None`` for all.

        Raises:
            ConfigError: for a label that is not a config of this sweep.
        """
        facet = self._facet(facet)
        if labels is not None:
            unknown = [label for label in labels if label not in self.labels]
            if unknown:
                raise ConfigError(
                    f"{', '.join(map(repr, unknown))} is not a config of sweep {self.name!r}; "
                    f"choose among: {'; '.join(self.labels)}."
                )
        chosen = self._groups if labels is None else [g for g in self._groups if g.label in labels]
        options = {
            "x": x,
            "band": band,
            "confidence": confidence,
            "show_seeds": seeds,
            "log_y": log_y,
            "log_x": log_x,
        }
        if facet is None:
            groups = [(g.label, g.seeds) for g in chosen if g.seeds]
            return [build_bands(groups, **options)]  # type: ignore[arg-type]
        values: list[Any] = []
        for group in chosen:
            value = group.settings.get(facet)
            if not any(_same(value, v) for v in values):
                values.append(value)
        panels = []
        for value in values:
            groups = [
                (_label_without(g.settings, facet), g.seeds)
                for g in chosen
                if _same(g.settings.get(facet), value) and g.seeds
            ]
            title = f"{facet} = {format_value(value)}"
            panels.append(build_bands(groups, title=title, **options))  # type: ignore[arg-type]
        return panels

    def ranked_labels(
        self,
        metric: str = "final",
        *,
        top: int | None = None,
        hide_diverged: bool = False,
        summary: pd.DataFrame | None = None,
    ) -> list[str]:
        """Config labels, best first by mean ``final`` (or ``best``) validation loss: the
        curves the web page draws for its top-k and hide-diverged filters.

        Args:
            metric: ``final`` or ``best``.
            top: keep the first ``top`` (``None``: all).
            hide_diverged: leave out configs with a seed that diverged or failed.
            summary: :meth:`summary`'s frame when the caller has it already.

        Raises:
            ConfigError: for another metric or ``top`` < 1.
        """
        if metric not in SLICE_METRICS:
            raise ConfigError(f"metric = {metric!r}; choose one of: {', '.join(SLICE_METRICS)}.")
        if top is not None and top < 1:
            raise ConfigError(f"top = {top}; show at least 1 config, or None for all.")
        frame = self.summary() if summary is None else summary
        column = SLICE_METRICS[metric]
        rows = frame.to_dict(orient="records")
        if hide_diverged:
            bad = ("diverged", "error")
            rows = [r for r in rows if not any(word in str(r["status"]) for word in bad)]
        rows.sort(
            key=lambda r: (math.isnan(r[column]), 0.0 if math.isnan(r[column]) else r[column])
        )
        labels = [str(r["config"]) for r in rows]
        return labels if top is None else labels[:top]

    def slices(self, metric: str = "final", *, confidence: float = 0.95) -> list[SliceData]:
        """Each config's mean final (or best) loss against each swept setting, as plain data
        (the web page's slice view; :func:`~optiscope.plotting.build_slices`).

        Args:
            metric: ``final`` or ``best`` (see :meth:`summary`'s ``final_mean``, ``best_mean``).
            confidence: coverage of the intervals of ``final``.
        """
        rows = [
            {str(k): v for k, v in row.items()}
            for row in self.summary(confidence=confidence).to_dict(orient="records")
        ]
        return build_slices(rows, self._keys, metric=metric)

    def plot(
        self,
        x: str = "epoch",
        *,
        band: str = "std",
        confidence: float = 0.95,
        seeds: bool = False,
        log_y: bool = False,
        log_x: bool = False,
        facet: str | None = "auto",
        ax: Axes | None = None,
    ) -> Figure:
        """Validation curves: the mean over seeds with a band, one line per config.

        The title names the sweep; the line below it the settings every run shares and the
        data. Works in a plain script (``plt.show()``) and in a notebook.

        Args:
            x: ``epoch``, ``step``, ``samples`` or ``seconds``.
            band: ``std`` (mean ± one standard deviation of the seeds) or ``ci`` (a
                t-interval of the mean at ``confidence``).
            confidence: coverage of a ``ci`` band (0.95: a 95% interval).
            seeds: also draw every seed's own line.
            log_y, log_x: logarithmic axes.
            facet: a swept setting to draw one panel per value of; ``"auto"`` uses the first
                swept setting when two or more are swept; ``None`` draws one panel.
            ax: matplotlib axes to draw a one-panel figure into; ``None`` makes a new figure.
                A faceted figure has several panels and its own figure: with ``ax`` pass
                ``facet=None``.

        Returns:
            The matplotlib Figure (``ax``'s when given).

        Raises:
            ConfigError: for ``ax`` with a figure of several panels, or an unknown ``x``,
                ``band`` or ``facet``.
        """
        panels = self.plot_data(
            x, band=band, confidence=confidence, seeds=seeds, log_y=log_y, log_x=log_x, facet=facet
        )
        title = figure_title(self.name, [run.config for run in self.runs])
        if len(panels) == 1 and not panels[0].title:
            fig = render_bands(panels[0], ax)
            (fig.axes[0] if ax is None else ax).set_title(title)
            return fig
        if ax is not None:
            raise ConfigError(
                f"sweep {self.name!r} draws {len(panels)} panels (one per {self._facet(facet)}), "
                f"and ax= takes the axes of a one-panel figure; pass facet=None with ax=, or "
                f"leave ax out for a figure of its own."
            )
        return render_band_panels(panels, title=title)

    def compare_optimizers(
        self,
        *,
        resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
        diverged_share: float = 0.25,
    ) -> OptimizerComparison:
        """Compare the sweep's optimizers at equal tuning effort.

        Per optimizer: the expected best final validation metric after ``k`` random configs
        of its grid, ``k = 1..N`` (Tang et al. 2020's unbiased estimator) with bootstrap
        bands; the paired probability that its tuned config beats another's over seeds; and
        flags when its best config sits on the edge of a swept range or when more than
        ``diverged_share`` of its runs diverged. See :mod:`optiscope.api._fair`.

        Args:
            resamples: bootstrap resamples for the bands and intervals.
            confidence: their coverage.
            seed: the bootstrap's random seed.
            diverged_share: flag an optimizer when more of its runs than this share diverged.

        Returns:
            An :class:`~optiscope.api.OptimizerComparison` (``table()``, ``curves``,
            ``improvement``, ``flags``, ``plot()``).

        Raises:
            ConfigError: when the sweep mixes metrics, or for a bad argument.
        """
        from optiscope.api._fair import compare_optimizers

        return compare_optimizers(
            self,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
            diverged_share=diverged_share,
        )

    def decision_data(self, *, seed: int | None = None, resolution: int = 80) -> DecisionData:
        """The data of :meth:`plot_decision_boundaries` (plain values, no matplotlib)."""
        labels, configs, scores, statuses = [], [], [], []
        for group in self._groups:
            runs = [r for r in group.runs if r.record is not None and r.status != "error"]
            if seed is not None:
                runs = [r for r in runs if r.config.seed == seed]
            if not runs:
                continue
            run = min(runs, key=lambda r: r.config.seed)
            assert run.record is not None
            labels.append(group.label)
            configs.append(run.config)
            losses = run.record.curve.valid_loss
            scores.append(losses[-1] if losses else None)
            statuses.append(run.status)
        if not configs:
            which = f"seed {seed}" if seed is not None else "any seed"
            raise ConfigError(
                f"sweep {self.name!r} has no finished run of {which} to draw; run it first."
            )
        seeds = sorted({c.seed for c in configs})
        title = f"{self.name}: decision boundaries (seed {', '.join(map(str, seeds))})"
        return decision_data(
            labels,
            configs,
            scores=scores,
            statuses=statuses,
            title=title,
            resolution=resolution,
        )

    def plot_decision_boundaries(self, *, seed: int | None = None, resolution: int = 80) -> Figure:
        """Decision boundaries of a 2-D classification sweep: one small panel per config.

        Each panel shades the class the config's network predicts over the plane (paler
        where it is less sure) under the validation points, and shows the run's final
        validation metric. Runs store curves, not weights, so each config's network is
        trained again (the engines are deterministic: the same weights).

        Args:
            seed: the seed to draw; ``None`` draws each config's lowest seed.
            resolution: grid points per axis.

        Returns:
            The matplotlib Figure.

        Raises:
            ConfigError: for data that is not a 2-D classification set, or no finished run.
        """
        return render_decision_boundaries(self.decision_data(seed=seed, resolution=resolution))

    def lr_data(self, x: str = "epoch", *, log_y: bool = False) -> CurvesData:
        """:meth:`plot_lr`'s figure as plain data."""
        groups = [g for g in self._groups if g.seeds]
        return build_lr_curves(
            [g.seeds[0][1] for g in groups],  # (a config's seeds share their lrs)
            [g.label for g in groups],
            x=x,
            log_y=log_y,
            title=f"lr per {x}: {self.name}",
        )

    def plot_lr(self, x: str = "epoch", *, log_y: bool = False, ax: Axes | None = None) -> Figure:
        """The lr each config used, per epoch (the lr of the epoch's last optimizer step):
        its lr schedule, as it ran.

        Args:
            x: ``epoch``, ``step``, ``samples`` or ``seconds``.
            log_y: logarithmic y-axis.
            ax: matplotlib axes to draw into; ``None`` makes a new figure.

        Raises:
            ConfigError: for an unknown ``x``.
        """
        return render_curves(self.lr_data(x, log_y=log_y), ax)

    def save(self, path: str | Path, **options: Any) -> Path:
        """Save :meth:`plot`'s figure as PNG, SVG or PDF (by suffix); ``options`` as
        :meth:`plot` takes them. Returns the path."""
        return save_figure(self.plot(**options), path, close=True)

    def export(self, path: str | Path) -> Path:
        """Write :attr:`frame` as CSV or Parquet (by suffix); returns the path.

        Raises:
            ConfigError: for another suffix (nothing is written).
        """
        path = Path(path)
        if path.suffix.lower() not in EXPORT_FORMATS:
            raise ConfigError(
                f"cannot export to {path.name!r}: the file name must end in "
                f"{' or '.join(EXPORT_FORMATS)}."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = self.frame
        if path.suffix.lower() == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    def to_json_dict(
        self, baseline: str | Mapping[str, Any] | None = None, *, confidence: float = 0.95
    ) -> dict[str, Any]:
        """Name, store, counts, what the last call did, and the ranked summary (NaN: null)."""
        summary = self.summary(baseline, confidence=confidence).astype(object)
        rows = summary.where(summary.notna(), None).to_dict(orient="records")
        data: dict[str, Any] = {
            "name": self.name,
            "store": str(self.store),
            "spec": self.spec.to_dict(),
            "counts": self.counts,
            "complete": self.complete,
            "configs": rows,
        }
        if self.run is not None:
            data["run"] = {
                "trained": self.run.trained,
                "skipped": self.run.skipped,
                "recovered": self.run.recovered,
                "busy": self.run.busy,
                "seconds": self.run.seconds,
            }
        return data

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def _repr_html_(self) -> str:
        return figure_html(self.plot(), self.summary(), title=repr(self))

    def __repr__(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items() if v)
        return f"SweepResult({self.name!r}: {len(self.runs)} runs; {counts or 'empty'})"


def _group_status(statuses: Sequence[str]) -> str:
    """``done`` when every seed is done; else what went wrong, as ``diverged 2/5``."""
    total = len(statuses)
    if statuses.count("done") == total:
        return "done"
    parts = [
        f"{status} {statuses.count(status)}/{total}"
        for status in ("diverged", "error", "running", "pending")
        if status in statuses
    ]
    return ", ".join(parts)


def _label_without(settings: Mapping[str, Any], facet: str) -> str:
    rest = [f"{k} = {format_value(v)}" for k, v in settings.items() if k != facet]
    return ", ".join(rest) or "config"


#: The run settings (besides the optimizer's own) a figure's subtitle states when every run
#: shares them.
SUBTITLE_SETTINGS: tuple[str, ...] = ("batch_size", "epochs", "seed", "hidden", "activation")


#: Characters per line of a figure's subtitle (an 8-inch figure's width at the title's size).
SUBTITLE_WIDTH = 85


def figure_title(head: str, configs: Sequence[RunConfig]) -> str:
    """``head`` over the :func:`fixed_settings` of ``configs``, wrapped to the figure."""
    if not configs:
        return head
    return "\n".join([head, *textwrap.wrap(fixed_settings(configs), SUBTITLE_WIDTH)])


def fixed_settings(configs: Sequence[RunConfig]) -> str:
    """The settings all ``configs`` share, and their data, as a figure's subtitle.

    ``AdamW: betas = (0.9, 0.999), eps = 1e-08, weight_decay = 0.01, batch_size = 16,
    epochs = 30, seed = 123, hidden = 50x50, activation = relu; friedman3 (n=1000, sd=0.1)``:
    settings that differ between configs (the compared ones, seeds) are left out.
    """
    first = configs[0]

    def shared(get: Callable[[RunConfig], Any]) -> bool:
        return all(_same(get(config), get(first)) for config in configs)

    parts = [
        f"{name} = {format_value(value)}"
        for name, value in first.hparams
        if shared(lambda config, name=name: config.hparam_dict.get(name))  # type: ignore[misc]
    ]
    parts += [
        f"{name} = {format_value(getattr(first, name))}"
        for name in SUBTITLE_SETTINGS
        if shared(lambda config, name=name: getattr(config, name))  # type: ignore[misc]
    ]
    specs = {config.data for config in configs}
    data = first.data.label if len(specs) == 1 else f"{len(specs)} data sets"
    optimizers = {config.optimizer for config in configs}
    who = f"{get_optimizer(first.optimizer).title}: " if len(optimizers) == 1 else ""
    return f"{who}{', '.join(parts)}; {data}"
