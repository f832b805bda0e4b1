"""Sweeps: expand settings into configs, group them, run them on a backend."""

from optiscope.sweeps._run import ENGINES, RecordCallback, run_configs
from optiscope.sweeps._settings import SETTINGS, Setting, format_value
from optiscope.sweeps._spec import SPEC_FORMATS, SweepPoint, SweepSpec
from optiscope.sweeps._sweep import SweepRun, open_store, run_sweep

__all__ = [
    "ENGINES",
    "SETTINGS",
    "SPEC_FORMATS",
    "RecordCallback",
    "Setting",
    "SweepPoint",
    "SweepRun",
    "SweepSpec",
    "format_value",
    "open_store",
    "run_configs",
    "run_sweep",
]
