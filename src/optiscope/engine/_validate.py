"""Checks of a whole :class:`RunConfig`, before anything is built or trained."""

from __future__ import annotations

from optiscope.data import GENERATORS, validate_data_spec
from optiscope.errors import ConfigError
from optiscope.models import validate_architecture
from optiscope.optim import get_optimizer, schedule_problem
from optiscope.records import RunConfig
from optiscope.settings import METRICS, SCHEDULES, SETTINGS

__all__ = ["config_problems", "validate_config"]


def config_problems(config: RunConfig) -> list[str]:
    """Every problem with ``config`` as a list of texts (empty when it can run)."""
    problems: list[str] = []
    try:
        info = get_optimizer(config.optimizer)
    except ConfigError as err:
        problems.append(str(err).rstrip("."))
    else:
        problems += info.problems(config.hparam_dict)
    for name in ("batch_size", "epochs", "seed", "metric", "shuffle"):  # the registry's rules
        problems += SETTINGS[name].problems(getattr(config, name))
    try:
        validate_architecture(config.hidden, config.activation)
    except ConfigError as err:
        problems.append(str(err).rstrip("."))
    try:
        validate_data_spec(config.data)
    except ConfigError as err:
        problems.append(str(err).rstrip("."))
    generator = GENERATORS.get(config.data.name)
    metric = METRICS.get(config.metric)  # (an unknown one is reported above)
    if generator is not None and metric is not None:  # (user arrays are regression data)
        problems += metric.problems_on(generator.task, generator.name)
    problems += _schedule_problems(config)
    return problems


def _schedule_problems(config: RunConfig) -> list[str]:
    """The schedule's settings by the registry's rules, then whether it fits the run (with
    generated data, whose training size the spec gives; arrays are checked when built)."""
    schedule = config.schedule
    problems = SETTINGS["schedule"].problems(schedule.name)
    if schedule.name not in SCHEDULES:
        return problems
    for name, value in schedule.settings.items():
        problems += SETTINGS[name].problems(value)
    if problems or config.data.name == "custom" or _length_problems(config):
        return problems
    n_train = round(config.data.n * config.data.train_fraction)
    found = schedule_problem(
        schedule, steps_per_epoch=-(-n_train // config.batch_size), epochs=config.epochs
    )
    return [found] if found is not None else []


def _length_problems(config: RunConfig) -> bool:
    """Whether the run's length is itself invalid (then the schedule is not checked by it)."""
    return bool(
        SETTINGS["batch_size"].problems(config.batch_size)
        or SETTINGS["epochs"].problems(config.epochs)
        or SETTINGS["n"].problems(config.data.n)
        or SETTINGS["train_fraction"].problems(config.data.train_fraction)
    )


def validate_config(config: RunConfig, *, where: str = "") -> None:
    """Raise one :class:`ConfigError` listing every problem with ``config``.

    Args:
        config: the run to check.
        where: message prefix, such as ``"config 3 of 12: "``.
    """
    problems = config_problems(config)
    if problems:
        raise ConfigError(f"{where}{'; '.join(problems)}. Nothing was run.")
