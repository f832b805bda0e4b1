"""Checks of a whole :class:`RunConfig`, before anything is built or trained."""

from __future__ import annotations

from optiscope.data import GENERATORS, validate_data_spec
from optiscope.errors import ConfigError
from optiscope.models import validate_architecture
from optiscope.optim import get_optimizer
from optiscope.records import RunConfig
from optiscope.settings import METRICS, SETTINGS

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
    return problems


def validate_config(config: RunConfig, *, where: str = "") -> None:
    """Raise one :class:`ConfigError` listing every problem with ``config``.

    Args:
        config: the run to check.
        where: message prefix, such as ``"config 3 of 12: "``.
    """
    problems = config_problems(config)
    if problems:
        raise ConfigError(f"{where}{'; '.join(problems)}. Nothing was run.")
