"""Optimizers: hyperparameter schemas, reference ``torch.optim`` classes, vectorized updates."""

from optiscope.optim._base import HParamSpec, OptimizerInfo
from optiscope.optim._check import matches_reference
from optiscope.optim._momentum import (
    FIRST_STEP_DIFFERENCE,
    MOMENTUM,
    ExerciseMomentum,
    momentum_update,
    velocity_problem,
)
from optiscope.optim._registry import OPTIMIZERS, get_optimizer

__all__ = [
    "FIRST_STEP_DIFFERENCE",
    "MOMENTUM",
    "OPTIMIZERS",
    "ExerciseMomentum",
    "HParamSpec",
    "OptimizerInfo",
    "get_optimizer",
    "matches_reference",
    "momentum_update",
    "velocity_problem",
]
