"""Every setting of a training run, in one place: name, type, default, checks, aliases, help.

This registry is torch-free (layer 0), so the command line builds its flags, help texts and
checks from it without importing torch. Everything else is generated from it or tested
against it: the flags of ``optiscope compare`` and ``optiscope sweep``, the keyword
arguments of :func:`optiscope.compare_configs` and :func:`optiscope.sweep`, the keys of a
sweep spec file, :class:`~optiscope.records.RunConfig`'s defaults and the settings table of
``docs/sweeps.md`` (``tests/test_settings_registry.py`` fails when one of them drifts).

Two kinds of default, on purpose:

- :data:`SETTINGS` holds the defaults of a sweep: each optimizer's own (``torch.optim``'s)
  hyperparameter defaults, the exercise's network and data.
- :data:`EXERCISE` holds the course's ``compare_configs()`` defaults (AdamW with lr 0.01 and
  weight decay 0.01), which ``compare_configs`` and ``optiscope compare`` use.

Hyperparameter ranges are each optimizer's own (SGD's momentum, RMSprop's alpha, ...) and are
declared once, in its ``optim/_<name>.py`` file, equal to ``torch.optim``'s checks.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "ALIASES",
    "BETA_PARTS",
    "COMPARED",
    "EXERCISE",
    "METRICS",
    "OPTIMIZER_DEFAULT",
    "SCHEDULES",
    "SETTINGS",
    "Metric",
    "Setting",
    "check_number",
    "default",
    "format_value",
    "is_value_list",
    "unknown_setting",
]

Target = Literal["optimizer", "hparam", "config", "schedule", "data"]
Kind = Literal["str", "float", "int", "bool", "widths", "pair", "ints"]


class _OptimizerDefault:
    """The default of a hyperparameter: its optimizer's own, as ``torch.optim`` has it."""

    def __repr__(self) -> str:
        return "OPTIMIZER_DEFAULT"


#: A hyperparameter's default is its optimizer's (``torch.optim``'s): AdamW's lr is 1e-3,
#: SGD's momentum 0.
OPTIMIZER_DEFAULT: Final = _OptimizerDefault()


@dataclass(frozen=True)
class Setting:
    """One setting of a run.

    Attributes:
        name: its name in spec files and keyword arguments, and (with dashes) on the
            command line.
        target: where it goes: the optimizer's name, its hyperparameters, the run config,
            its lr schedule, or the data spec.
        kind: the type of one value: ``str``, ``float``, ``int``, ``bool``, ``widths`` (a
            tuple of layer widths), ``pair`` (``betas``) or ``ints`` (``milestones``).
        help: one line for help texts and the docs' table.
        default: the value a sweep uses when the setting is left out;
            :data:`OPTIMIZER_DEFAULT` for hyperparameters, ``None`` where the default
            depends on another setting (``noise``, ``d``: the dataset's own).
        choices: the allowed values of a ``str`` setting.
        low, high, low_open, high_open: the allowed range of a number (config and data
            settings; hyperparameters are checked by their optimizer).
    """

    name: str
    target: Target
    kind: Kind
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def flag(self) -> str:
        """The command-line flag (``--batch-size``)."""
        return "--" + self.name.replace("_", "-")

    @property
    def nested(self) -> bool:
        """One value is itself a sequence (``hidden``, ``betas``): a list of values is a list
        of sequences."""
        return self.kind in ("widths", "pair", "ints")

    @property
    def default_text(self) -> str:
        """The default as help texts show it."""
        if self.default is OPTIMIZER_DEFAULT:
            return "the optimizer's own"
        if self.default is None:
            return "the dataset's own" if self.name in ("noise", "d") else "none"
        if self.name == "metric":
            tasks = dict.fromkeys(m.task for m in METRICS.values())
            return ", ".join(f"{Metric.default_for(t)} ({t})" for t in tasks)
        return format_value(self.default)

    def problems(self, value: Any) -> list[str]:
        """Problems with one value (empty when it is fine).

        Checks the type, range and choices of config and data settings; a hyperparameter's
        value is checked by its optimizer (ranges differ between optimizers), the optimizer
        name by the optimizer registry.
        """
        if self.target in ("hparam", "optimizer"):
            return []
        if self.kind in ("int", "float"):
            return check_number(
                self.name,
                value,
                low=self.low,
                high=self.high,
                low_open=self.low_open,
                high_open=self.high_open,
                integer=self.kind == "int",
            )
        if self.kind == "bool":
            ok = isinstance(value, bool)
            return [] if ok else [f"`{self.name}` = {value!r} must be true or false"]
        if self.kind == "str" and self.choices and value not in self.choices:
            listed = ", ".join(self.choices)
            return [f"`{self.name}` = {value!r} is unknown; choose one of: {listed}"]
        if self.kind == "widths":
            return _width_problems(value)
        if self.kind == "ints":
            return _ints_problems(self.name, value, self.low)
        return []


def _ints_problems(name: str, value: Any, low: float | None) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        return [f"`{name}` = {value!r} must be a non-empty list of whole numbers, such as [10, 20]"]
    bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int)]
    bad += [v for v in value if v not in bad and low is not None and v < low]
    if bad:
        return [
            f"`{name}` = {list(value)!r}: entries must be whole numbers >= {low:g}, got {bad!r}"
        ]
    return []


def _width_problems(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [f"`hidden` = {value!r} must be a list of layer widths, such as [50, 50]"]
    bad = [w for w in value if isinstance(w, bool) or not isinstance(w, int) or w < 1]
    if bad:
        return [f"`hidden` = {list(value)!r}: layer widths must be integers >= 1, got {bad!r}"]
    return []


def _settings(*settings: Setting) -> dict[str, Setting]:
    return {s.name: s for s in settings}


_OPT = OPTIMIZER_DEFAULT

#: Every setting, in the order help texts and the docs list them.
SETTINGS: Final[dict[str, Setting]] = _settings(
    Setting(
        "optimizer",
        "optimizer",
        "str",
        "the optimizer",
        "adamw",
        choices=("adamw", "adam", "sgd", "rmsprop", "adagrad", "nadam", "radam", "adamax"),
    ),
    Setting("lr", "hparam", "float", "learning rate", _OPT),
    Setting("weight_decay", "hparam", "float", "weight decay (decoupled in AdamW)", _OPT),
    Setting("betas", "hparam", "pair", "(beta1, beta2) of the Adam family", _OPT),
    Setting("beta1", "hparam", "float", "betas[0] of the Adam family (the exercise's name)", _OPT),
    Setting("beta2", "hparam", "float", "betas[1] of the Adam family (the exercise's name)", _OPT),
    Setting("eps", "hparam", "float", "epsilon of the Adam family, RMSprop and Adagrad", _OPT),
    Setting("momentum", "hparam", "float", "SGD and RMSprop momentum", _OPT),
    Setting("dampening", "hparam", "float", "SGD dampening", _OPT),
    Setting("nesterov", "hparam", "bool", "SGD Nesterov momentum", _OPT),
    Setting("alpha", "hparam", "float", "RMSprop decay of the squared-gradient average", _OPT),
    Setting("centered", "hparam", "bool", "RMSprop divides by the gradient's variance", _OPT),
    Setting("lr_decay", "hparam", "float", "Adagrad step size lr / (1 + (t - 1) lr_decay)", _OPT),
    Setting(
        "initial_accumulator_value", "hparam", "float", "Adagrad start of the sum of squares", _OPT
    ),
    Setting("momentum_decay", "hparam", "float", "NAdam psi of its momentum schedule", _OPT),
    Setting(
        "decoupled_weight_decay",
        "hparam",
        "bool",
        "NAdam and RAdam decay weights as AdamW does, not as an L2 term",
        _OPT,
    ),
    Setting("batch_size", "config", "int", "training batch size", 16, low=1),
    Setting("epochs", "config", "int", "passes over the training data", 30, low=1),
    Setting("seed", "config", "int", "torch.manual_seed before each model is built", 123, low=0),
    Setting("hidden", "config", "widths", "hidden layer widths", (50, 50)),
    Setting(
        "activation",
        "config",
        "str",
        "activation between layers",
        "relu",
        choices=("relu", "tanh", "gelu", "sigmoid"),
    ),
    Setting(
        "metric",
        "config",
        "str",
        "validation metric: rmse, batch_rmse (the exercise's mean of per-batch RMSEs) for "
        "regression; log_loss, accuracy for classification",
        "rmse",
        choices=("rmse", "batch_rmse", "log_loss", "accuracy"),
    ),
    Setting("shuffle", "config", "bool", "shuffle batches each epoch, seeded", False),
    Setting(
        "schedule",
        "schedule",
        "str",
        "lr schedule, as torch.optim.lr_scheduler (step, multistep, exponential: per epoch; "
        "cosine, linear, onecycle: per step)",
        "constant",
        choices=("constant", "step", "multistep", "exponential", "cosine", "linear", "onecycle"),
    ),
    Setting("warmup", "schedule", "int", "cosine, linear: steps of linear warmup first", 0, low=0),
    Setting(
        "warmup_start",
        "schedule",
        "float",
        "cosine, linear: lr factor the warmup starts from (LinearLR start_factor)",
        0.01,
        low=0,
        high=1,
        low_open=True,
    ),
    Setting("step_size", "schedule", "int", "step: epochs between lr decays", 10, low=1),
    Setting(
        "gamma",
        "schedule",
        "float",
        "step, multistep, exponential: lr factor at each decay",
        0.1,
        low=0,
        low_open=True,
    ),
    Setting(
        "milestones", "schedule", "ints", "multistep: epochs at which lr decays", (10, 20), low=1
    ),
    Setting("eta_min", "schedule", "float", "cosine: the lr it anneals to", 0.0, low=0),
    Setting(
        "pct_start",
        "schedule",
        "float",
        "onecycle: share of the steps spent raising lr (lr is the peak)",
        0.3,
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    ),
    Setting(
        "div_factor",
        "schedule",
        "float",
        "onecycle: start lr = lr / div_factor",
        25.0,
        low=0,
        low_open=True,
    ),
    Setting(
        "final_div_factor",
        "schedule",
        "float",
        "onecycle: final lr = start lr / final_div_factor",
        1e4,
        low=0,
        low_open=True,
    ),
    Setting(
        "dataset",
        "data",
        "str",
        "the data generator (mlbench's regression and classification sets)",
        "friedman3",
        choices=(
            "friedman1",
            "friedman2",
            "friedman3",
            "peak",
            "spirals",
            "circle",
            "xor",
            "twonorm",
            "threenorm",
            "ringnorm",
            "cassini",
            "2dnormals",
            "smiley",
            "hypercube",
            "shapes",
        ),
    ),
    Setting("n", "data", "int", "samples generated, train + validation", 1000, low=2),
    Setting("noise", "data", "float", "noise standard deviation", None, low=0),
    Setting(
        "d",
        "data",
        "int",
        "dimension (mlbench's d) of a set that takes one (twonorm, xor, hypercube, ...)",
        None,
        low=1,
    ),
    Setting("data_seed", "data", "int", "seed of the data and its split", 0, low=0),
    Setting(
        "train_fraction",
        "data",
        "float",
        "share of samples used for training",
        0.7,
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    ),
    Setting("standardize", "data", "bool", "scale features and target", False),
)

#: Each lr schedule's settings (a setting another schedule takes does not change a run of
#: this one), and whether it steps once per ``epoch`` or once per optimizer ``step``.
SCHEDULES: Final[dict[str, tuple[tuple[str, ...], Literal["epoch", "step"]]]] = {
    "constant": ((), "epoch"),
    "step": (("step_size", "gamma"), "epoch"),
    "multistep": (("milestones", "gamma"), "epoch"),
    "exponential": (("gamma",), "epoch"),
    "cosine": (("warmup", "warmup_start", "eta_min"), "step"),
    "linear": (("warmup", "warmup_start"), "step"),
    "onecycle": (("pct_start", "div_factor", "final_div_factor"), "step"),
}

Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class Metric:
    """A validation metric: what it measures, for which task, and which way is better.

    Attributes:
        name: the ``metric`` setting's value.
        label: the axis label of a figure.
        task: the data it applies to: ``regression`` or ``classification``.
        higher_is_better: ``True`` for accuracy; ``False`` for the losses and errors.
        floor: the least value it can take (figures do not draw a band below it).
        help: one line for help texts.
    """

    name: str
    label: str
    task: Task
    higher_is_better: bool
    floor: float
    help: str

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``, as figures label it."""
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def axis_label(self) -> str:
        """The label with its direction: ``Validation accuracy (higher is better)``."""
        return f"{self.label} ({self.direction})"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b`` by this metric."""
        return a > b if self.higher_is_better else a < b

    def problems_on(self, task: str, dataset: str) -> list[str]:
        """Why this metric cannot measure runs on ``dataset`` of ``task`` (empty when it can)."""
        if self.task == task:
            return []
        fits = ", ".join(m.name for m in METRICS.values() if m.task == task)
        return [
            f"`metric` = {self.name!r} is a {self.task} metric and {dataset} is a {task} data "
            f"set; use one of: {fits}"
        ]

    @staticmethod
    def default_for(task: str) -> str:
        """The metric a run on data of ``task`` measures when none is given: the first of
        that task in :data:`METRICS` (``rmse``; ``log_loss`` for classification)."""
        return next(m.name for m in METRICS.values() if m.task == task)


#: Every validation metric, by name (the ``metric`` setting's choices, in order).
METRICS: Final[dict[str, Metric]] = {
    m.name: m
    for m in (
        Metric("rmse", "Validation RMSE", "regression", False, 0.0, "RMSE over the validation set"),
        Metric(
            "batch_rmse",
            "Validation RMSE (mean of per-batch RMSEs, as in the exercise)",
            "regression",
            False,
            0.0,
            "the exercise's metric: mean over validation batches of each batch's RMSE "
            "(validation batch size = training batch size); reads low for small batches",
        ),
        Metric(
            "log_loss",
            "Validation log loss",
            "classification",
            False,
            0.0,
            "mean cross-entropy of the validation set (nn.CrossEntropyLoss), in nats",
        ),
        Metric(
            "accuracy",
            "Validation accuracy",
            "classification",
            True,
            0.0,
            "share of validation samples whose largest output is their class",
        ),
    )
}

#: The exercise's ``beta1``/``beta2``: positions in torch's ``betas`` pair (mapped once, in
#: :func:`optiscope.sweeps` config building).
BETA_PARTS: Final[dict[str, int]] = {"beta1": 0, "beta2": 1}

#: Names people reach for first, and the setting they mean (suggested, never applied).
ALIASES: Final[dict[str, str]] = {
    "sd": "noise",
    "dim": "d",
    "dimension": "d",
    "learning_rate": "lr",
    "wd": "weight_decay",
    "bs": "batch_size",
    "data": "dataset",
    "optim": "optimizer",
    "hidden_sizes": "hidden",
    "widths": "hidden",
}

#: The settings the exercise's ``compare_configs()`` can vary, in its spelling and order.
COMPARED: Final[tuple[str, ...]] = ("batch_size", "lr", "weight_decay", "beta1", "beta2")

#: The course's ``compare_configs()`` defaults (AdamW), used by ``compare_configs`` and
#: ``optiscope compare``; every other setting takes its :data:`SETTINGS` default.
EXERCISE: Final[Mapping[str, Any]] = {
    "optimizer": "adamw",
    "epochs": 30,
    "batch_size": 16,
    "lr": 0.01,
    "weight_decay": 0.01,
    "beta1": 0.9,
    "beta2": 0.999,
    "seed": 123,
}


def default(name: str) -> Any:
    """The sweep default of setting ``name`` (see :class:`Setting`)."""
    return SETTINGS[name].default


def unknown_setting(name: str) -> str:
    """The problem text for a name that is not a setting, with the closest names."""
    key = str(name).replace("-", "_")
    close = [ALIASES[key]] if key in ALIASES else []
    close = close or difflib.get_close_matches(key, list(SETTINGS), n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(f'`{c}`' for c in close)}? " if close else ""
    return f"`{name}` is not a sweep setting; {hint}settings are: {', '.join(SETTINGS)}"


def is_value_list(name: str, value: Any) -> bool:
    """Whether ``value`` lists several values of setting ``name`` (rather than being one).

    For nested settings (``hidden``, ``betas``) a list of sequences is a list of values; a
    plain list of numbers is one value.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return type(value).__name__ == "ndarray" and getattr(value, "ndim", 0) == 1
    setting = SETTINGS.get(name)
    if setting is not None and setting.nested:
        return any(isinstance(v, Sequence) and not isinstance(v, str) for v in value)
    return True


def format_value(value: Any) -> str:
    """A short display of one setting's value (``0.01``, ``50x50``, ``(0.9, 0.999)``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)  # distinct values, distinct text
    if isinstance(value, list | tuple):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "x".join(str(v) for v in value) if value else "none"
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    return str(value)


STRING_NUMBER_HINT = (
    "it is the text {value!r}, not a number; pass {value} without quotes "
    "(on the command line, numbers are parsed for you)"
)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    needs: str = "",
) -> list[str]:
    """Check one number and return the problems found (empty when it is fine).

    Args:
        name: the setting's name as the user wrote it (``beta2``).
        value: the value to check.
        low, high: bounds (``None`` for none).
        low_open, high_open: exclude the bound itself.
        integer: require an ``int`` (``bool`` is never accepted as a number).
        needs: what the bound is for, appended to the message (``"AdamW needs 0 <= beta2 < 1"``).
    """
    suffix = f"; {needs}" if needs else ""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return [f"`{name}` = {value!r} is not a number{suffix}"]
        return [f"`{name}` = {value!r}: " + STRING_NUMBER_HINT.format(value=value)]
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        return [f"`{name}` = {value!r} ({type(value).__name__}) must be {kind}{suffix}"]
    if integer and not isinstance(value, int):
        if float(value).is_integer():
            return [f"`{name}` = {value!r} must be an integer; write {int(value)}{suffix}"]
        return [f"`{name}` = {value!r} must be an integer{suffix}"]
    if not math.isfinite(value):
        return [f"`{name}` = {value!r} must be finite{suffix}"]
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        opening = "(" if low_open or low is None else "["
        closing = ")" if high_open or high is None else "]"
        interval = f"{opening}{left}, {right}{closing}"
        return [f"`{name}` = {value!r} is outside {interval}{suffix}"]
    return []
