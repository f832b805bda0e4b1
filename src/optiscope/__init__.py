"""optiscope: an optimizer lab for PyTorch.

Public names are imported lazily (PEP 562), so ``import optiscope`` and ``optiscope --help``
stay fast and torch is only loaded when something that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optiscope._version import __version__

if TYPE_CHECKING:
    from optiscope.api import CompareResult, SweepResult, compare_configs, sweep
    from optiscope.errors import ConfigError, DataError, EngineError, OptiscopeError, StorageError
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
    "OptiscopeError": "optiscope.errors",
    "RunConfig": "optiscope.records",
    "RunRecord": "optiscope.records",
    "SqliteStore": "optiscope.storage",
    "StorageError": "optiscope.errors",
    "SweepResult": "optiscope.api",
    "SweepSpec": "optiscope.sweeps",
    "Trajectory": "optiscope.records",
    "compare_configs": "optiscope.api",
    "sweep": "optiscope.api",
}

__all__ = [
    "CompareResult",
    "ConfigError",
    "Curve",
    "DataError",
    "DataSpec",
    "EngineError",
    "OptiscopeError",
    "RunConfig",
    "RunRecord",
    "SqliteStore",
    "StorageError",
    "SweepResult",
    "SweepSpec",
    "Trajectory",
    "__version__",
    "compare_configs",
    "sweep",
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
