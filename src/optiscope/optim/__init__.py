"""Optimizers: hyperparameter schemas, reference ``torch.optim`` classes, vectorized updates."""

from optiscope.optim._base import HParamSpec, OptimizerInfo, check_number
from optiscope.optim._registry import OPTIMIZERS, get_optimizer

__all__ = ["OPTIMIZERS", "HParamSpec", "OptimizerInfo", "check_number", "get_optimizer"]
