"""Optimizers: hyperparameter schemas, reference ``torch.optim`` classes, vectorized updates."""

from optiscope.optim._base import HParamSpec, OptimizerInfo, StepLrs, lr_at
from optiscope.optim._check import matches_reference
from optiscope.optim._facts import cache_dir, machine_facts, switched_off
from optiscope.optim._momentum import (
    FIRST_STEP_DIFFERENCE,
    MOMENTUM,
    ExerciseMomentum,
    momentum_update,
    velocity_problem,
)
from optiscope.optim._native import compile_cached
from optiscope.optim._registry import OPTIMIZERS, get_optimizer
from optiscope.optim._schedules import make_torch_scheduler, schedule_problem, scheduled_lrs

__all__ = [
    "FIRST_STEP_DIFFERENCE",
    "MOMENTUM",
    "OPTIMIZERS",
    "ExerciseMomentum",
    "HParamSpec",
    "OptimizerInfo",
    "StepLrs",
    "cache_dir",
    "compile_cached",
    "get_optimizer",
    "lr_at",
    "machine_facts",
    "make_torch_scheduler",
    "matches_reference",
    "momentum_update",
    "schedule_problem",
    "scheduled_lrs",
    "switched_off",
    "velocity_problem",
]
