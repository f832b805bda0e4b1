"""The settings a sweep can vary, and how one set of values becomes a :class:`RunConfig`.

Names follow ``torch.optim`` for hyperparameters (``lr``, ``betas``, ``weight_decay``, ...);
the exercise's ``beta1``/``beta2`` are accepted and mapped onto ``betas`` here, once. Data
settings use the command line's names (``dataset``, ``n``, ``noise``, ``data_seed``).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from optiscope.data import get_generator
from optiscope.engine import config_problems
from optiscope.errors import ConfigError
from optiscope.optim import OPTIMIZERS, OptimizerInfo, check_number, get_optimizer
from optiscope.records import DataSpec, RunConfig

__all__ = [
    "ALIASES",
    "SETTINGS",
    "Setting",
    "applies",
    "build_config",
    "format_value",
    "is_value_list",
    "unknown_setting",
]

Target = Literal["optimizer", "hparam", "config", "data"]
Kind = Literal["str", "float", "int", "bool", "widths", "pair"]


@dataclass(frozen=True)
class Setting:
    """One sweepable setting.

    Attributes:
        name: its name in specs, in ``sweep(...)`` and (with dashes) on the command line.
        target: where it goes: the optimizer's name, its hyperparameters, the run config, or
            the data spec.
        kind: the type of one value: ``str``, ``float``, ``int``, ``bool``, ``widths`` (a
            tuple of layer widths) or ``pair`` (``betas``).
        doc: one line for help texts.
    """

    name: str
    target: Target
    kind: Kind
    doc: str

    @property
    def nested(self) -> bool:
        """One value is itself a sequence (``hidden``, ``betas``): a list of values is a list
        of sequences."""
        return self.kind in ("widths", "pair")


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("optimizer", "optimizer", "str", f"{', '.join(OPTIMIZERS)} (default adamw)"),
        Setting("lr", "hparam", "float", "learning rate"),
        Setting("weight_decay", "hparam", "float", "weight decay (decoupled in AdamW)"),
        Setting("betas", "hparam", "pair", "(beta1, beta2) of Adam and AdamW"),
        Setting("beta1", "hparam", "float", "betas[0] of Adam and AdamW (the exercise's name)"),
        Setting("beta2", "hparam", "float", "betas[1] of Adam and AdamW (the exercise's name)"),
        Setting("eps", "hparam", "float", "epsilon of Adam, AdamW, RMSprop and Adagrad"),
        Setting("momentum", "hparam", "float", "SGD and RMSprop momentum"),
        Setting("dampening", "hparam", "float", "SGD dampening"),
        Setting("nesterov", "hparam", "bool", "SGD Nesterov momentum"),
        Setting("alpha", "hparam", "float", "RMSprop decay of the squared-gradient average"),
        Setting("centered", "hparam", "bool", "RMSprop divides by the gradient's variance"),
        Setting("lr_decay", "hparam", "float", "Adagrad step size lr / (1 + (t - 1) lr_decay)"),
        Setting(
            "initial_accumulator_value", "hparam", "float", "Adagrad start of the sum of squares"
        ),
        Setting("batch_size", "config", "int", "training batch size (default 16)"),
        Setting("epochs", "config", "int", "passes over the training data (default 30)"),
        Setting("seed", "config", "int", "one seed for every config (default 123)"),
        Setting("hidden", "config", "widths", "hidden layer widths (default 50x50)"),
        Setting("activation", "config", "str", "relu, tanh, gelu or sigmoid (default relu)"),
        Setting("metric", "config", "str", "rmse, or batch_rmse as in the exercise"),
        Setting("shuffle", "config", "bool", "shuffle batches each epoch, seeded"),
        Setting("dataset", "data", "str", "friedman1, friedman2, friedman3 or peak"),
        Setting("n", "data", "int", "samples generated, train + validation (default 1000)"),
        Setting("noise", "data", "float", "noise standard deviation (default: the dataset's)"),
        Setting("data_seed", "data", "int", "seed of the data and its split (default 0)"),
        Setting("train_fraction", "data", "float", "share of samples for training (0.7)"),
        Setting("standardize", "data", "bool", "scale features and target (default off)"),
    )
}

_BETA_PARTS = {"beta1": 0, "beta2": 1}


# Names people reach for first, and the setting they mean.
ALIASES: dict[str, str] = {
    "sd": "noise",
    "learning_rate": "lr",
    "wd": "weight_decay",
    "bs": "batch_size",
    "data": "dataset",
    "optim": "optimizer",
    "hidden_sizes": "hidden",
    "widths": "hidden",
}


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


def applies(setting: str, optimizer: str) -> bool:
    """Whether ``setting`` affects a run of ``optimizer`` (``momentum`` does not for AdamW)."""
    known = SETTINGS.get(setting)
    return known is None or known.target != "hparam" or _optimizer_takes(optimizer, setting)


def _optimizer_takes(name: str, hparam: str) -> bool:
    try:
        info = get_optimizer(name)
    except (ConfigError, AttributeError):
        return False
    wanted = "betas" if hparam in _BETA_PARTS else hparam
    return any(spec.name == wanted for spec in info.hparams)


def build_config(
    values: Mapping[str, Any],
    optimizers: Sequence[str] = (),
    *,
    own: Collection[str] = (),
) -> tuple[RunConfig | None, list[str]]:
    """Turn one set of setting values into a complete, normalized :class:`RunConfig`.

    Args:
        values: setting name -> one value; missing settings take their defaults.
        optimizers: every optimizer in the sweep. A hyperparameter that this config's
            optimizer does not take is dropped when another optimizer of the sweep takes it
            (``momentum`` in an ``adamw,sgd`` sweep applies to SGD only), and is a problem
            otherwise.
        own: settings that belong to this config alone (an explicit config's): one its
            optimizer does not take is always a problem, never dropped.

    Returns:
        ``(config, [])`` when the values can run, else ``(None, problems)``. Hyperparameters
        are completed with the optimizer's defaults and normalized (``lr=1`` and ``lr=1.0``
        give the same config and the same key). Every problem is listed, not only the first.
    """
    problems = [unknown_setting(name) for name in values if name not in SETTINGS]
    optimizer = values.get("optimizer", "adamw")
    try:
        info: OptimizerInfo | None = get_optimizer(optimizer)
    except (ConfigError, AttributeError):
        info = None
        known = ", ".join(OPTIMIZERS)
        problems.append(f"`optimizer` = {optimizer!r} is unknown; choose one of: {known}")
    if "betas" in values and any(part in values for part in _BETA_PARTS):
        parts = " and ".join(f"`{part}`" for part in _BETA_PARTS if part in values)
        problems.append(f"`betas` and {parts} are both given; give betas or beta1/beta2")

    hparams: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        if setting.target != "hparam" or name not in values:
            continue
        if info is None:  # its values can still be checked, by an optimizer that takes them
            problems += _value_problems(name, values[name])
        elif not _optimizer_takes(info.name, name):
            others = any(_optimizer_takes(other, name) for other in optimizers)
            if name in own or not others:
                taken = ", ".join(spec.name for spec in info.hparams)
                problems.append(
                    f"`{name}` is not a hyperparameter of {info.title}; it takes: {taken}"
                )
        elif name in _BETA_PARTS:
            betas = hparams.get("betas", info.defaults["betas"])
            if isinstance(betas, Sequence) and not isinstance(betas, str) and len(betas) == 2:
                pair = list(betas)
                pair[_BETA_PARTS[name]] = values[name]
                hparams["betas"] = tuple(pair)  # (a bad betas is reported by its own check)
        else:
            hparams[name] = values[name]

    hidden = values.get("hidden", (50, 50))
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if isinstance(hidden, str) or not isinstance(hidden, Sequence):
        problems.append(f"`hidden` = {hidden!r} must be a list of layer widths, such as [50, 50]")
        hidden = (50, 50)

    data, data_problems = _data_spec(values)
    problems += data_problems
    config = RunConfig(
        optimizer=info.name if info is not None else "adamw",  # (reported above)
        hparams=hparams,
        batch_size=values.get("batch_size", 16),
        epochs=values.get("epochs", 30),
        seed=values.get("seed", 123),
        hidden=tuple(hidden),
        activation=values.get("activation", "relu"),
        data=data,
        metric=values.get("metric", "rmse"),
        shuffle=values.get("shuffle", False),
    )
    problems += [p for p in config_problems(config) if p not in problems]
    if problems:
        return None, problems
    # Normalize numbers so equal settings give equal keys (0 and 0.0, 1 and 1.0).
    data = DataSpec(
        name=data.name,
        n=data.n,
        sd=float(data.sd),
        seed=data.seed,
        train_fraction=float(data.train_fraction),
        standardize=bool(data.standardize),
    )
    assert info is not None
    return config.replace(hparams=info.validate(hparams), data=data), []


def _value_problems(name: str, value: Any) -> list[str]:
    """Problems with one hyperparameter's value, by the first optimizer that takes it."""
    for optimizer in OPTIMIZERS:
        if _optimizer_takes(optimizer, name):
            info = get_optimizer(optimizer)
            if name in _BETA_PARTS:
                pair = list(info.defaults["betas"])
                pair[_BETA_PARTS[name]] = value
                return info.problems({"betas": tuple(pair)})
            return info.problems({name: value})
    return []


def _data_spec(values: Mapping[str, Any]) -> tuple[DataSpec, list[str]]:
    """The data spec, checked here so each problem names the setting as the user wrote it.

    A bad value is reported and replaced by its default, so the other checks still run.
    """
    problems: list[str] = []
    dataset = values.get("dataset", "friedman3")
    try:
        default_sd = get_generator(dataset).default_sd
    except (ConfigError, AttributeError) as err:
        problems.append(str(err).rstrip("."))
        dataset, default_sd = "friedman3", 0.1
    checks = {
        "n": (1000, check_number("n", values.get("n", 1000), low=2, integer=True)),
        "noise": (default_sd, check_number("noise", values.get("noise", default_sd), low=0)),
        "data_seed": (
            0,
            check_number("data_seed", values.get("data_seed", 0), low=0, integer=True),
        ),
        "train_fraction": (
            0.7,
            check_number(
                "train_fraction",
                values.get("train_fraction", 0.7),
                low=0,
                high=1,
                low_open=True,
                high_open=True,
            ),
        ),
    }
    chosen: dict[str, Any] = {}
    for name, (default, found) in checks.items():
        problems += found
        chosen[name] = default if found else values.get(name, default)
    standardize = values.get("standardize", False)
    if standardize not in (True, False) or not isinstance(standardize, bool):
        problems.append(f"`standardize` = {standardize!r} must be true or false")
        standardize = False
    spec = DataSpec(
        name=dataset,
        n=chosen["n"],
        sd=chosen["noise"],
        seed=chosen["data_seed"],
        train_fraction=chosen["train_fraction"],
        standardize=standardize,
    )
    return spec, problems
