"""User-facing results: each function trains or runs, each result has .frame, .plot(), .save()."""

from optiscope.api._compare import CompareResult, compare_configs, resolve_data
from optiscope.api._fair import FLAG_KINDS, OptimizerComparison, TuningFlag
from optiscope.api._landscape_common import check_start, check_start_value, check_steps
from optiscope.api._landscape_results import PathResult
from optiscope.api._lr_find import LrFindResult, lr_find
from optiscope.api._race import ROSENBROCK_SETTINGS, RaceResult, race
from optiscope.api._sensitivity import SensitivityMap, sensitivity_map
from optiscope.api._sweep import sweep
from optiscope.api._sweep_result import EXPORT_FORMATS, SweepResult
from optiscope.api._weight_decay import (
    ADAPTIVE_OPTIMIZERS,
    WeightDecayResult,
    weight_decay_bias,
)

__all__ = [
    "ADAPTIVE_OPTIMIZERS",
    "EXPORT_FORMATS",
    "FLAG_KINDS",
    "ROSENBROCK_SETTINGS",
    "CompareResult",
    "LrFindResult",
    "OptimizerComparison",
    "PathResult",
    "RaceResult",
    "SensitivityMap",
    "SweepResult",
    "TuningFlag",
    "WeightDecayResult",
    "check_start",
    "check_start_value",
    "check_steps",
    "compare_configs",
    "lr_find",
    "race",
    "resolve_data",
    "sensitivity_map",
    "sweep",
    "weight_decay_bias",
]
