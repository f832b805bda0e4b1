"""``compare_configs``: the exercise's comparison of AdamW settings, faithful and correct.

The exercise (question 1) trains one identically seeded MLP per value of one AdamW setting on
friedman3 data and draws one validation curve each. This module does the same, with the
exercise's quirks fixed by default and available on request (``metric="batch_rmse"``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.api._sweep_result import figure_title, fixed_settings
from optiscope.data import Dataset, make_dataset
from optiscope.errors import ConfigError, EngineError, TrainingFailedError
from optiscope.plotting import (
    build_curves,
    check_x_axis,
    figure_html,
    figure_png,
    render_curves,
    save_figure,
)
from optiscope.records import DataSpec, RunRecord
from optiscope.settings import COMPARED, EXERCISE, METRICS, SETTINGS, default, format_value
from optiscope.storage import SqliteStore
from optiscope.sweeps import Plan, SweepSpec, data_settings, plan, run_sweep

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CompareResult", "compare_configs", "compared_setting", "resolve_data"]

DataArg = None | str | DataSpec | Dataset | Mapping[str, Any] | Sequence[Any]


def resolve_data(data: DataArg) -> tuple[dict[str, Any], Dataset | None]:
    """Turn the ``data=`` argument into data settings or, for user arrays, the data set.

    Args:
        data: ``None`` (the exercise's friedman3, n=1000, sd=0.1, data seed 0), a generator
            name (with its own default noise), data settings (``{"dataset": "friedman1",
            "n": 500}``, as a sweep takes them), a :class:`DataSpec` (``sd=None``: the
            generator's default noise), a :class:`Dataset`, or
            ``(X_train, y_train, X_valid, y_valid)`` as NumPy arrays or tensors.

    Returns:
        ``(settings, None)`` for generated data, ``({}, dataset)`` for a data set.

    Raises:
        ConfigError: for anything else. DataError: for unusable arrays.
    """
    if data is None:
        return {}, None
    if isinstance(data, str):
        return {"dataset": data}, None
    if isinstance(data, Mapping):
        others = [k for k in data if SETTINGS.get(k) is None or SETTINGS[k].target != "data"]
        if others:
            known = ", ".join(k for k, s in SETTINGS.items() if s.target == "data")
            raise ConfigError(
                f"{', '.join(map(repr, others))} in data= are not data settings; they are: {known}."
            )
        return dict(data), None
    if isinstance(data, DataSpec):
        return data_settings(data), None
    if isinstance(data, Dataset):
        return {}, data
    if isinstance(data, Sequence) and len(data) == 4:
        return {}, Dataset.from_arrays(*data)
    raise ConfigError(
        f"data = {type(data).__name__} is not understood; pass None (the exercise's friedman3), "
        "a dataset name such as 'friedman1', data settings, a DataSpec, a Dataset, or a tuple "
        "(X_train, y_train, X_valid, y_valid)."
    )


def _label(name: str, value: Any) -> str:
    # Quotes show a value that is text where a number belongs (it fails validation).
    return f"{name} = {value!r}" if isinstance(value, str) else f"{name} = {format_value(value)}"


def _is_list(value: Any) -> bool:
    """A list, tuple or range, or a NumPy array, pandas Series or tensor with an axis (and a
    set, which is refused with its own message)."""
    if isinstance(value, list | tuple | range | set | frozenset):
        return True
    return hasattr(value, "tolist") and len(getattr(value, "shape", ())) > 0


def _plain(value: Any) -> Any:
    """NumPy and torch scalars (``np.float32(0.1)``, ``torch.tensor(16)``) as the Python
    numbers they hold, so validation and the records see plain values; anything else as is."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, numbers.Number) or getattr(value, "shape", None) == ():
        item = getattr(value, "item", None)
        if callable(item):
            return item()
    return value


def _values(name: str, value: Any) -> list[Any]:
    """The values of the varied setting as plain Python numbers, in the order given."""
    if isinstance(value, set | frozenset):
        raise ConfigError(
            f"`{name}` is a {type(value).__name__}, which has no order; pass a list or tuple, "
            f"e.g. {name}={sorted(value, key=repr)!r}."
        )
    if not isinstance(value, list | tuple | range):
        if len(value.shape) > 1:
            raise ConfigError(
                f"`{name}` is a {len(value.shape)}-D {type(value).__name__} of shape "
                f"{tuple(value.shape)}; pass a flat list of values."
            )
        value = value.tolist()
    return [_plain(v) for v in value]


def compared_setting(given: Mapping[str, Any]) -> str:
    """The one setting of :data:`~optiscope.settings.COMPARED` that ``given`` lists several
    values for (the rule of :func:`compare_configs`, shared with the web page's form).

    Raises:
        ConfigError: when none or several are lists.
    """
    lists = [name for name, value in given.items() if _is_list(value)]
    if len(lists) != 1:
        which = f"lists were given for {', '.join(lists)}" if lists else "none was a list"
        raise ConfigError(
            f"exactly one of {', '.join(COMPARED)} must be a list of values to compare; "
            f"{which}. Example: compare_configs(lr=[0.1, 0.01], weight_decay=0.02)."
        )
    return lists[0]


def compare_configs(
    epochs: int = EXERCISE["epochs"],
    batch_size: Any = EXERCISE["batch_size"],
    lr: Any = EXERCISE["lr"],
    weight_decay: Any = EXERCISE["weight_decay"],
    beta1: Any = EXERCISE["beta1"],
    beta2: Any = EXERCISE["beta2"],
    *,
    data: DataArg = None,
    seed: int = EXERCISE["seed"],
    metric: str | None = None,
    eps: float | None = None,
    hidden: Sequence[int] = default("hidden"),
    activation: str = default("activation"),
    shuffle: bool = default("shuffle"),
    engine: str | None = None,
    device: str = "cpu",
    progress: bool = False,
    on_plan: Callable[[Plan], None] | None = None,
) -> CompareResult:
    """Train one identically seeded MLP per value of one AdamW setting; one curve each.

    Exactly one of ``batch_size``, ``lr``, ``weight_decay``, ``beta1``, ``beta2`` is a list
    (or tuple) of values; the others are single values shared by every run. The defaults
    are the exercise's (:data:`optiscope.settings.EXERCISE`). It runs as a one-setting
    sweep plan on an in-memory store, through the same checks and engines as
    :func:`optiscope.sweep`.

    Args:
        epochs: passes over the training data.
        batch_size: training batch size.
        lr: AdamW learning rate.
        weight_decay: AdamW's decoupled weight decay.
        beta1: AdamW's first-moment decay (``betas[0]``).
        beta2: AdamW's second-moment decay (``betas[1]``).
        data: the data (see :func:`resolve_data`); default the exercise's friedman3.
        seed: ``torch.manual_seed`` before each model is built (the exercise: 123).
        metric: ``rmse`` (true RMSE over the validation set) or ``batch_rmse`` (the
            exercise's mean of per-batch RMSEs, validation batch size = ``batch_size``);
            ``log_loss`` or ``accuracy`` on a classification set. ``None``: the data set's
            own (``rmse``; ``log_loss`` for classification).
        eps: AdamW's epsilon (``None``: torch's default, 1e-8).
        hidden: hidden layer widths (the exercise: 50, 50).
        activation: ``relu`` (the exercise), ``tanh``, ``gelu`` or ``sigmoid``.
        shuffle: shuffle training batches each epoch (seeded); the exercise does not.
        engine: training engine; ``None`` picks the default (see
            :func:`optiscope.sweeps.run_configs`), ``"reference"`` the plain PyTorch loop.
        device: where to train.
        progress: show a progress bar on stderr.
        on_plan: called with the checked :class:`~optiscope.sweeps.Plan` before anything
            trains (to show its size and estimated time, or to stop by raising).

    Returns:
        A :class:`CompareResult` with ``.frame``, ``.summary()``, ``.plot()`` and ``.save()``.

    Raises:
        ConfigError: when not exactly one setting is a list, or any value is invalid; every
            problem is reported at once and nothing is trained.

    Examples:
        >>> result = compare_configs(epochs=2, lr=[0.1, 0.01])  # doctest: +SKIP
        >>> result.summary()  # doctest: +SKIP
    """
    given = {
        "batch_size": _plain(batch_size),
        "lr": _plain(lr),
        "weight_decay": _plain(weight_decay),
        "beta1": _plain(beta1),
        "beta2": _plain(beta2),
    }
    name = compared_setting(given)
    values = _values(name, given[name])
    fixed = {k: v for k, v in given.items() if k != name}
    fixed.update(
        optimizer=EXERCISE["optimizer"],
        epochs=_plain(epochs),
        seed=_plain(seed),
        hidden=tuple(hidden),
        activation=activation,
        shuffle=shuffle,
    )
    if eps is not None:
        fixed["eps"] = _plain(eps)
    if metric is not None:  # (else the data set's own, see optiscope.settings.Metric)
        fixed["metric"] = metric
    data_values, dataset = resolve_data(data)
    fixed.update(data_values)
    checked = plan(
        SweepSpec(grid={name: values}, fixed=fixed, name="compare"), data=dataset, max_configs=None
    )
    if on_plan is not None:
        on_plan(checked)
    # An in-memory store keeps nothing after the call: no checkpoints to resume from, and a
    # failure is the engine's error, not a stored sweep's.
    with SqliteStore.in_memory() as store:
        try:
            run = run_sweep(
                checked,
                store=store,
                engine=engine,
                device=device,
                progress=progress,
                checkpoints=None,
            )
        except TrainingFailedError as err:
            cause = err.__cause__
            raise EngineError(
                f"training failed: {type(cause).__name__}: {cause}. Nothing was kept."
            ) from cause
        # run_sweep returned, so every config finished and every stored run has its record.
        finished = [record for s in store.runs(run.name) if (record := s.record) is not None]
    return CompareResult(
        parameter=name, values=values, records=finished, seconds=run.seconds, dataset=dataset
    )


class CompareResult:
    """The outcome of :func:`compare_configs`: one run per value, ordered by value.

    Attributes:
        parameter: the varied setting (``lr``).
        values: its values, in ascending order.
        labels: legend labels (``lr = 0.01``), in the same order.
        records: one :class:`RunRecord` per value, in the same order.
        seconds: wall-clock time of the whole comparison.
        dataset: the data the runs trained on, when given (needed for the mean-predictor
            yardstick of user arrays; generated data is made again from the configs).
    """

    def __init__(
        self,
        parameter: str,
        values: Sequence[Any],
        records: Sequence[RunRecord],
        seconds: float = math.nan,
        dataset: Dataset | None = None,
    ) -> None:
        order = sorted(range(len(values)), key=lambda i: values[i])
        self.dataset = dataset
        self.parameter = parameter
        self.values = [values[i] for i in order]
        self.records = [records[i] for i in order]
        self.labels = [_label(parameter, v) for v in self.values]
        self.seconds = seconds

    @property
    def frame(self) -> pd.DataFrame:
        """A tidy frame: one row per config and epoch.

        Columns: ``config`` (ordered categorical, ordered by value), the varied parameter,
        ``epoch``, ``step``, ``samples``, ``seconds``, ``valid_loss``, ``train_loss``, and
        ``status`` (the run's final status: ``done``, ``diverged`` or ``error``).

        The two losses are in different units, as in the exercise: ``valid_loss`` is the
        validation metric (an RMSE: ``metric="rmse"`` or ``"batch_rmse"``), ``train_loss``
        the mean over the epoch's batches of the training MSE, the loss AdamW minimizes.
        """
        import pandas as pd

        parts = []
        for label, value, record in zip(self.labels, self.values, self.records, strict=True):
            curve = record.curve
            part = pd.DataFrame(
                {
                    "config": label,
                    self.parameter: value,
                    "epoch": curve.epoch,
                    "step": curve.step,
                    "samples": curve.samples,
                    "seconds": curve.seconds,
                    "valid_loss": curve.valid_loss,
                    "train_loss": curve.train_loss,
                    "status": record.status,
                }
            )
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
        frame["config"] = pd.Categorical(frame["config"], categories=self.labels, ordered=True)
        return frame

    def summary(self) -> pd.DataFrame:
        """One row per config: final and best validation loss, the best epoch, divergence.

        "Best" follows the metric's direction: the lowest loss, or the highest accuracy.

        ``final_valid_loss`` is NaN for a diverged run; ``best_*`` cover its finite epochs.
        """
        import pandas as pd

        rows = []
        for label, value, record in zip(self.labels, self.values, self.records, strict=True):
            losses = record.curve.valid_loss
            finite = [(loss, e) for loss, e in zip(losses, record.curve.epoch, strict=True)]
            finite = [(loss, e) for loss, e in finite if math.isfinite(loss)]
            if METRICS[record.config.metric].higher_is_better:  # best = highest, earliest
                finite = [(-loss, e) for loss, e in finite]
                found = min(finite, default=(math.nan, None))
                best = (-found[0], found[1])
            else:
                best = min(finite) if finite else (math.nan, None)
            rows.append(
                {
                    "config": label,
                    self.parameter: value,
                    "status": record.status,
                    "epochs_run": len(losses),
                    "final_valid_loss": losses[-1] if record.status == "done" else math.nan,
                    "best_valid_loss": best[0],
                    "best_epoch": best[1],
                    "diverged_epoch": record.diverged_epoch,
                }
            )
        frame = pd.DataFrame(rows)
        frame["best_epoch"] = frame["best_epoch"].astype("Int64")
        frame["diverged_epoch"] = frame["diverged_epoch"].astype("Int64")
        return frame

    @property
    def subtitle(self) -> str:
        """The settings every run shares and the data (``AdamW: batch_size = 16, ...; friedman3
        (n=1000, sd=0.1)``), for the figure."""
        return fixed_settings([record.config for record in self.records])

    @staticmethod
    def check_yardstick(metric: str) -> None:
        """Raise :class:`ConfigError` unless runs measuring ``metric`` can be drawn with the
        mean-predictor yardstick (a true RMSE: ``metric="rmse"``), so a caller can refuse
        before training."""
        if metric != "rmse":
            raise ConfigError(
                f"the mean-predictor yardstick is a true RMSE; these runs measure "
                f"metric = {metric!r}. Compare with metric='rmse' to draw it."
            )

    @property
    def mean_predictor_rmse(self) -> float:
        """The validation RMSE of always predicting the training mean of ``y``: the yardstick a
        model has to beat to have learnt anything from the features.

        Computed from the data the runs trained on (the data set passed in, or the stored
        configs' generated data).

        Raises:
            ConfigError: for user arrays this result was not given, or for the exercise's
                ``batch_rmse`` metric (whose yardstick depends on the batch size).
        """
        config = self.records[0].config
        self.check_yardstick(config.metric)
        dataset = self.dataset
        if dataset is None:
            if config.data.name == "custom":
                raise ConfigError(
                    "the mean-predictor yardstick needs the data, and this result holds only a "
                    "fingerprint of the arrays; build it with CompareResult(..., dataset=...)."
                )
            dataset = make_dataset(config.data)
        y_train = dataset.y_train.double().numpy()
        y_valid = dataset.y_valid.double().numpy()
        return math.sqrt(float(((y_valid - y_train.mean()) ** 2).mean()))

    def plot(
        self,
        x: str = "epoch",
        log_y: bool = False,
        *,
        log_x: bool = False,
        yardstick: bool = False,
        ax: Axes | None = None,
    ) -> Figure:
        """Validation curves, one line per config, legend ordered by value.

        The title names the compared setting; the line below it the settings every run
        shares and the data. Works in a plain script (``plt.show()``) and in a notebook.

        Args:
            x: ``epoch``, ``step``, ``samples`` or ``seconds``.
            log_y: logarithmic y-axis.
            log_x: logarithmic x-axis.
            yardstick: also draw :attr:`mean_predictor_rmse` as a dashed horizontal line
                (off by default: it regenerates the data set).
            ax: matplotlib axes to draw into; ``None`` makes a new figure.

        Returns:
            The matplotlib Figure (``ax``'s when given).
        """
        check_x_axis(x)
        stick = self.mean_predictor_rmse if yardstick else None
        data = build_curves(
            self.records,
            self.labels,
            x=x,
            log_y=log_y,
            log_x=log_x,
            title=figure_title(f"{self.parameter} compared", [r.config for r in self.records]),
            yardstick=stick,
            yardstick_label=f"always predicting the training mean ({stick:.4g})" if stick else "",
        )
        return render_curves(data, ax)

    def save(
        self,
        path: str | Path,
        *,
        x: str = "epoch",
        log_y: bool = False,
        log_x: bool = False,
        yardstick: bool = False,
    ) -> Path:
        """Save the figure as PNG, SVG or PDF (by the file's suffix); returns the path."""
        figure = self.plot(x=x, log_y=log_y, log_x=log_x, yardstick=yardstick)
        return save_figure(figure, path, close=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (NaN becomes ``None``)."""
        summary = self.summary().astype(object)
        rows = summary.where(summary.notna(), None).to_dict(orient="records")
        return {"parameter": self.parameter, "seconds": self.seconds, "configs": rows}

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def _repr_html_(self) -> str:
        return figure_html(self.plot(), self.summary(), title=repr(self))

    def __repr__(self) -> str:
        done = sum(r.status == "done" for r in self.records)
        return (
            f"CompareResult({self.parameter}: {', '.join(map(str, self.values))}; "
            f"{done}/{len(self.records)} done, {self.seconds:.1f} s)"
        )
