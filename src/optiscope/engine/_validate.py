"""Checks of a whole :class:`RunConfig`, before anything is built or trained."""

from __future__ import annotations

from optiscope.data import validate_data_spec
from optiscope.engine._metrics import METRICS
from optiscope.errors import ConfigError
from optiscope.models import validate_architecture
from optiscope.optim import check_number, get_optimizer
from optiscope.records import RunConfig

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
    problems += check_number("batch_size", config.batch_size, low=1, integer=True)
    problems += check_number("epochs", config.epochs, low=1, integer=True)
    problems += check_number("seed", config.seed, low=0, integer=True)
    if config.metric not in METRICS:
        known = ", ".join(METRICS)
        problems.append(f"`metric` = {config.metric!r} is unknown; choose one of: {known}")
    if config.shuffle not in (True, False):
        problems.append(f"`shuffle` = {config.shuffle!r} must be True or False")
    try:
        validate_architecture(config.hidden, config.activation)
    except ConfigError as err:
        problems.append(str(err).rstrip("."))
    try:
        validate_data_spec(config.data)
    except ConfigError as err:
        problems.append(str(err).rstrip("."))
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
