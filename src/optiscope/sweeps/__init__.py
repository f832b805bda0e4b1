"""Sweeps: expand settings into configs, group them, run them on a backend."""

from optiscope.sweeps._backends import Backend, InProcessBackend, ProcessPoolBackend
from optiscope.sweeps._groups import Task, plan_tasks
from optiscope.sweeps._plan import MAX_CONFIGS, Plan, plan
from optiscope.sweeps._pool import start_pool, stop_pool
from optiscope.sweeps._ray import RayBackend, stop_ray
from optiscope.sweeps._run import (
    BACKENDS,
    ENGINES,
    RecordCallback,
    check_engine,
    make_backend,
    run_configs,
)
from optiscope.sweeps._settings import data_settings
from optiscope.sweeps._spec import SPEC_FORMATS, SweepPoint, SweepSpec
from optiscope.sweeps._sweep import SweepRun, open_store, run_sweep

__all__ = [
    "BACKENDS",
    "ENGINES",
    "MAX_CONFIGS",
    "SPEC_FORMATS",
    "Backend",
    "InProcessBackend",
    "Plan",
    "ProcessPoolBackend",
    "RayBackend",
    "RecordCallback",
    "SweepPoint",
    "SweepRun",
    "SweepSpec",
    "Task",
    "check_engine",
    "data_settings",
    "make_backend",
    "open_store",
    "plan",
    "plan_tasks",
    "run_configs",
    "run_sweep",
    "start_pool",
    "stop_pool",
    "stop_ray",
]
