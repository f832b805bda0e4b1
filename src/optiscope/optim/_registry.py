"""The optimizer registry: adding an optimizer is one file and one line here."""

from __future__ import annotations

from optiscope.errors import ConfigError
from optiscope.optim._adagrad import ADAGRAD
from optiscope.optim._adam import ADAM
from optiscope.optim._adamax import ADAMAX
from optiscope.optim._adamw import ADAMW
from optiscope.optim._base import OptimizerInfo
from optiscope.optim._nadam import NADAM
from optiscope.optim._radam import RADAM
from optiscope.optim._rmsprop import RMSPROP
from optiscope.optim._sgd import SGD

__all__ = ["OPTIMIZERS", "get_optimizer"]

OPTIMIZERS: dict[str, OptimizerInfo] = {
    info.name: info for info in (ADAMW, ADAM, SGD, RMSPROP, ADAGRAD, NADAM, RADAM, ADAMAX)
}


def get_optimizer(name: str) -> OptimizerInfo:
    """Look up a registered optimizer by name (case-insensitive).

    Raises:
        ConfigError: for an unknown name, listing the registered ones.
    """
    try:
        return OPTIMIZERS[name.lower()]
    except (KeyError, AttributeError):
        raise ConfigError(
            f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}."
        ) from None
