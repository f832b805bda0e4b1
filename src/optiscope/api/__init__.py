"""User-facing results: each function trains or runs, each result has .frame, .plot(), .save()."""

from optiscope.api._compare import PARAMETERS, CompareResult, compare_configs, resolve_data
from optiscope.api._sweep import sweep
from optiscope.api._sweep_result import EXPORT_FORMATS, SweepResult

__all__ = [
    "EXPORT_FORMATS",
    "PARAMETERS",
    "CompareResult",
    "SweepResult",
    "compare_configs",
    "resolve_data",
    "sweep",
]
