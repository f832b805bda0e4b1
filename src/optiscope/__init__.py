"""optiscope: an optimizer lab for PyTorch.

Public names are imported lazily (PEP 562), so ``import optiscope`` and ``optiscope --help``
stay fast and torch is only loaded when something that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optiscope._version import __version__

if TYPE_CHECKING:
    from optiscope.api import (
        CompareResult,
        PathResult,
        RaceResult,
        SensitivityMap,
        SweepResult,
        WeightDecayResult,
        compare_configs,
        race,
        sensitivity_map,
        sweep,
        weight_decay_bias,
    )
    from optiscope.errors import ConfigError, DataError, EngineError, OptiscopeError, StorageError
    from optiscope.landscapes import Landscape, get_landscape
    from optiscope.records import Curve, DataSpec, RunConfig, RunRecord, Trajectory
    from optiscope.storage import SqliteStore
    from optiscope.sweeps import SweepSpec

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CompareResult": "optiscope.api",
    "ConfigError": "optiscope.errors",
    "Curve": "optiscope.records",
    "DataError": "optiscope.errors",
    "DataSpec": "optiscope.records",
    "EngineError": "optiscope.errors",
    "Landscape": "optiscope.landscapes",
    "OptiscopeError": "optiscope.errors",
    "PathResult": "optiscope.api",
    "RaceResult": "optiscope.api",
    "RunConfig": "optiscope.records",
    "RunRecord": "optiscope.records",
    "SensitivityMap": "optiscope.api",
    "SqliteStore": "optiscope.storage",
    "StorageError": "optiscope.errors",
    "SweepResult": "optiscope.api",
    "SweepSpec": "optiscope.sweeps",
    "Trajectory": "optiscope.records",
    "WeightDecayResult": "optiscope.api",
    "compare_configs": "optiscope.api",
    "get_landscape": "optiscope.landscapes",
    "race": "optiscope.api",
    "sensitivity_map": "optiscope.api",
    "sweep": "optiscope.api",
    "weight_decay_bias": "optiscope.api",
}

__all__ = [
    "CompareResult",
    "ConfigError",
    "Curve",
    "DataError",
    "DataSpec",
    "EngineError",
    "Landscape",
    "OptiscopeError",
    "PathResult",
    "RaceResult",
    "RunConfig",
    "RunRecord",
    "SensitivityMap",
    "SqliteStore",
    "StorageError",
    "SweepResult",
    "SweepSpec",
    "Trajectory",
    "WeightDecayResult",
    "__version__",
    "compare_configs",
    "get_landscape",
    "race",
    "sensitivity_map",
    "sweep",
    "weight_decay_bias",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'optiscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
