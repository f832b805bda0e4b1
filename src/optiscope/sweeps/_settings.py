"""How one set of setting values becomes a checked, complete :class:`RunConfig`.

The settings themselves (names, types, defaults, ranges, aliases, help) are declared in
:mod:`optiscope.settings`; this module applies them, with the optimizer's hyperparameter
checks and the data set's default noise, once per config of a plan.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from optiscope.data import dimension_problem, resolve_data_spec, split_problem, task_of
from optiscope.errors import ConfigError
from optiscope.optim import OPTIMIZERS, OptimizerInfo, get_optimizer, schedule_problem
from optiscope.records import DataSpec, RunConfig, ScheduleSpec
from optiscope.settings import (
    BETA_PARTS,
    METRICS,
    SCHEDULES,
    SETTINGS,
    Metric,
    default,
    unknown_setting,
)

__all__ = ["applies", "build_config", "data_settings"]

_DATA_FIELDS = {
    "dataset": "name",
    "n": "n",
    "noise": "sd",
    "d": "d",
    "data_seed": "seed",
    "train_fraction": "train_fraction",
    "standardize": "standardize",
}


def data_settings(spec: DataSpec) -> dict[str, Any]:
    """The data settings that describe ``spec`` (``noise`` and ``d`` left out when they are
    ``None``)."""
    found = {name: getattr(spec, field) for name, field in _DATA_FIELDS.items()}
    return {name: value for name, value in found.items() if value is not None}


def applies(setting: str, optimizer: str, schedule: str = "constant") -> bool:
    """Whether ``setting`` affects a run of ``optimizer`` with lr ``schedule`` (``momentum``
    does not for AdamW, ``gamma`` does not for a cosine schedule)."""
    known = SETTINGS.get(setting)
    if known is not None and known.target == "schedule" and setting != "schedule":
        return _schedule_takes(schedule, setting)
    return known is None or known.target != "hparam" or _optimizer_takes(optimizer, setting)


def _schedule_takes(schedule: Any, setting: str) -> bool:
    return isinstance(schedule, str) and setting in SCHEDULES.get(schedule, ((), ""))[0]


def _optimizer_takes(name: str, hparam: str) -> bool:
    try:
        info = get_optimizer(name)
    except (ConfigError, AttributeError):
        return False
    wanted = "betas" if hparam in BETA_PARTS else hparam
    return any(spec.name == wanted for spec in info.hparams)


def build_config(
    values: Mapping[str, Any],
    optimizers: Sequence[str] = (),
    *,
    own: Collection[str] = (),
    data: DataSpec | None = None,
    schedules: Sequence[str] = (),
) -> tuple[RunConfig | None, list[str]]:
    """Turn one set of setting values into a complete, normalized :class:`RunConfig`.

    Every value is checked here, once: config and data settings by the registry's rules
    (types, ranges, choices), hyperparameters by their optimizer.

    Args:
        values: setting name -> one value; missing settings take their defaults.
        optimizers: every optimizer in the sweep. A hyperparameter that this config's
            optimizer does not take is dropped when another optimizer of the sweep takes it
            (``momentum`` in an ``adamw,sgd`` sweep applies to SGD only), and is a problem
            otherwise.
        own: settings that belong to this config alone (an explicit config's): one its
            optimizer (or lr schedule) does not take is always a problem, never dropped.
        data: the data spec to use instead of the data settings (user arrays); data
            settings in ``values`` are then a problem.
        schedules: every lr schedule in the sweep; a schedule setting this config's
            schedule does not take is dropped when another of them takes it (``gamma`` in a
            ``step,cosine`` sweep), as for ``optimizers``.

    Returns:
        ``(config, [])`` when the values can run, else ``(None, problems)``. Hyperparameters
        are completed with the optimizer's defaults and normalized (``lr=1`` and ``lr=1.0``
        give the same config and the same key), and the data's noise is resolved. Every
        problem is listed, not only the first.
    """
    problems = [unknown_setting(name) for name in values if name not in SETTINGS]
    hidden = values.get("hidden")
    if isinstance(hidden, int) and not isinstance(hidden, bool):  # one hidden layer
        values = {**values, "hidden": (hidden,)}
    optimizer = values.get("optimizer", default("optimizer"))
    try:
        info: OptimizerInfo | None = get_optimizer(optimizer)
    except (ConfigError, AttributeError):
        info = None
        known = ", ".join(OPTIMIZERS)
        problems.append(f"`optimizer` = {optimizer!r} is unknown; choose one of: {known}")
    if "betas" in values and any(part in values for part in BETA_PARTS):
        parts = " and ".join(f"`{part}`" for part in BETA_PARTS if part in values)
        problems.append(f"`betas` and {parts} are both given; give betas or beta1/beta2")
    hparams, found = _hparams(values, info, optimizers, own)
    problems += found
    schedule, found = _schedule(values, schedules, own)
    problems += found

    chosen: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        if setting.target not in ("config", "data") or name not in values:
            continue
        found = setting.problems(values[name])
        problems += found
        if not found:
            chosen[name] = values[name]
    if data is not None:
        given = [name for name in _DATA_FIELDS if name in values]
        if given:
            problems.append(
                f"{', '.join(f'`{g}`' for g in given)} cannot be set with data given as arrays"
            )
    else:
        data, found = _data_spec(chosen)
        problems += found
    if data is not None and "metric" in chosen:
        problems += METRICS[chosen["metric"]].problems_on(task_of(data), data.name)
    if problems or info is None or schedule is None:
        return None, problems
    config = RunConfig(
        optimizer=info.name,
        hparams=info.complete(hparams),
        batch_size=int(chosen.get("batch_size", default("batch_size"))),
        epochs=int(chosen.get("epochs", default("epochs"))),
        seed=int(chosen.get("seed", default("seed"))),
        hidden=tuple(chosen.get("hidden", default("hidden"))),
        activation=chosen.get("activation", default("activation")),
        data=data,
        metric=chosen.get("metric", Metric.default_for(task_of(data))),
        shuffle=bool(chosen.get("shuffle", default("shuffle"))),
        schedule=schedule,
    )
    if data.name != "custom":  # (arrays: checked when the engine sees their size)
        n_train = round(data.n * data.train_fraction)
        found_problem = schedule_problem(
            schedule, steps_per_epoch=-(-n_train // config.batch_size), epochs=config.epochs
        )
        if found_problem is not None:
            return None, [found_problem]
    return config, []


def _schedule(
    values: Mapping[str, Any], schedules: Sequence[str], own: Collection[str]
) -> tuple[ScheduleSpec | None, list[str]]:
    """The lr schedule from ``values`` (its settings normalized: ``gamma=1`` is ``1.0``),
    and every problem with it."""
    name = values.get("schedule", default("schedule"))
    problems = SETTINGS["schedule"].problems(name)
    chosen: dict[str, Any] = {}
    for setting, rule in SETTINGS.items():
        if rule.target != "schedule" or setting == "schedule" or setting not in values:
            continue
        found = rule.problems(values[setting])
        problems += found
        if _schedule_takes(name, setting) or name not in SCHEDULES:
            if not found:
                value = values[setting]
                chosen[setting] = float(value) if rule.kind == "float" else value
            continue
        others = any(_schedule_takes(other, setting) for other in schedules)
        if setting in own or not others:
            taken = ", ".join(SCHEDULES[name][0]) or "no settings"
            problems.append(
                f"`{setting}` is not a setting of the {name} lr schedule; it takes: {taken}"
            )
    if problems:
        return None, problems
    return ScheduleSpec(name=name, **chosen), []


def _hparams(
    values: Mapping[str, Any],
    info: OptimizerInfo | None,
    optimizers: Sequence[str],
    own: Collection[str],
) -> tuple[dict[str, Any], list[str]]:
    """The optimizer's hyperparameters from ``values`` (beta1/beta2 mapped onto betas), and
    every problem with them."""
    problems: list[str] = []
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
        elif name in BETA_PARTS:
            betas = hparams.get("betas", info.defaults["betas"])
            if isinstance(betas, Sequence) and not isinstance(betas, str) and len(betas) == 2:
                pair = list(betas)
                pair[BETA_PARTS[name]] = values[name]
                hparams["betas"] = tuple(pair)  # (a bad betas is reported by its own check)
        else:
            hparams[name] = values[name]
    if info is not None:
        problems += info.problems(hparams)
    return hparams, problems


def _value_problems(name: str, value: Any) -> list[str]:
    """Problems with one hyperparameter's value, by the first optimizer that takes it."""
    for optimizer in OPTIMIZERS:
        if _optimizer_takes(optimizer, name):
            info = get_optimizer(optimizer)
            if name in BETA_PARTS:
                pair = list(info.defaults["betas"])
                pair[BETA_PARTS[name]] = value
                return info.problems({"betas": tuple(pair)})
            return info.problems({name: value})
    return []


def _data_spec(chosen: Mapping[str, Any]) -> tuple[DataSpec, list[str]]:
    """The resolved data spec from the data settings that passed their own checks."""
    problems: list[str] = []
    fields = {
        field: chosen.get(name, default(name))
        for name, field in _DATA_FIELDS.items()
        if name in chosen or default(name) is not None
    }
    if "sd" in fields:
        fields["sd"] = float(fields["sd"])
    fields["train_fraction"] = float(fields["train_fraction"])
    if "d" in fields:
        fields["d"] = int(fields["d"])
    spec = DataSpec(**fields)
    problems += [p for p in (dimension_problem(spec), split_problem(spec)) if p is not None]
    return resolve_data_spec(spec), problems
