"""Sweeps: expand settings into configs, group them, run them on a backend."""

from optiscope.sweeps._backends import (
    Backend,
    InProcessBackend,
    ProcessPoolBackend,
    start_pool,
    stop_pool,
)
from optiscope.sweeps._groups import Task, plan_tasks
from optiscope.sweeps._run import ENGINES, RecordCallback, check_engine, run_configs
from optiscope.sweeps._settings import SETTINGS, Setting, format_value
from optiscope.sweeps._spec import SPEC_FORMATS, SweepPoint, SweepSpec
from optiscope.sweeps._sweep import SweepRun, open_store, run_sweep

__all__ = [
    "ENGINES",
    "SETTINGS",
    "SPEC_FORMATS",
    "Backend",
    "InProcessBackend",
    "ProcessPoolBackend",
    "RecordCallback",
    "Setting",
    "SweepPoint",
    "SweepRun",
    "SweepSpec",
    "Task",
    "check_engine",
    "format_value",
    "open_store",
    "plan_tasks",
    "run_configs",
    "run_sweep",
    "start_pool",
    "stop_pool",
]
