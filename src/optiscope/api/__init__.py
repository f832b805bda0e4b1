"""User-facing results: each function trains or runs, each result has .frame, .plot(), .save()."""

from optiscope.api._compare import CompareResult, compare_configs, compared_setting, resolve_data
from optiscope.api._fair import FLAG_KINDS, OptimizerComparison, TuningFlag
from optiscope.api._landscape_common import check_start, check_start_value, check_steps
from optiscope.api._landscape_results import PathResult
from optiscope.api._lr_find import LrFindResult, lr_find
from optiscope.api._playground import (
    MAP_BETA,
    MAX_MAP_SIDE,
    MAX_PLAYGROUND_OPTIMIZERS,
    MAX_PLAYGROUND_STEPS,
    MAX_SURFACE_SIDE,
    PLAYGROUND_DTYPE,
    PlaygroundPaths,
    playground_map,
    playground_paths,
    playground_surface,
)
from optiscope.api._playground_sweep import (
    PLAYGROUND_GRID,
    PLAYGROUND_SWEEP,
    playground_curves,
    playground_spec,
    train_playground,
)
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
    "MAP_BETA",
    "MAX_MAP_SIDE",
    "MAX_PLAYGROUND_OPTIMIZERS",
    "MAX_PLAYGROUND_STEPS",
    "MAX_SURFACE_SIDE",
    "PLAYGROUND_DTYPE",
    "PLAYGROUND_GRID",
    "PLAYGROUND_SWEEP",
    "ROSENBROCK_SETTINGS",
    "CompareResult",
    "LrFindResult",
    "OptimizerComparison",
    "PathResult",
    "PlaygroundPaths",
    "RaceResult",
    "SensitivityMap",
    "SweepResult",
    "TuningFlag",
    "WeightDecayResult",
    "check_start",
    "check_start_value",
    "check_steps",
    "compare_configs",
    "compared_setting",
    "lr_find",
    "playground_curves",
    "playground_map",
    "playground_paths",
    "playground_spec",
    "playground_surface",
    "race",
    "resolve_data",
    "sensitivity_map",
    "sweep",
    "train_playground",
    "weight_decay_bias",
]
