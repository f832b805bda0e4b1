"""User-facing results: each function trains or runs, each result has .frame, .plot(), .save()."""

from optiscope.api._compare import PARAMETERS, CompareResult, compare_configs, resolve_data

__all__ = ["PARAMETERS", "CompareResult", "compare_configs", "resolve_data"]
