"""optiscope: an optimizer lab for PyTorch.

The names below are optiscope's stable public surface (pinned by
``tests/test_exported_members.py``), with :mod:`optiscope.exercise` (the course's functions),
:mod:`optiscope.settings` (the settings registry), :mod:`optiscope.records` (plain values) and
:mod:`optiscope.errors` (the exception tree). The other subpackages are layers of the
implementation: their ``__all__`` is what other layers use, and may change.

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
        LrFindResult,
        OptimizerComparison,
        PathResult,
        RaceResult,
        SensitivityMap,
        SweepResult,
        WeightDecayResult,
        compare_configs,
        lr_find,
        race,
        sensitivity_map,
        sweep,
        weight_decay_bias,
    )
    from optiscope.data import (
        Dataset,
        make_dataset,
    )
    from optiscope.errors import (
        ConfigError,
        DataError,
        DiskFullError,
        EngineError,
        NotAStoreError,
        OptiscopeError,
        StorageError,
        StoreDamagedError,
        StoreNotFoundError,
        StoreUnavailableError,
        SweepExistsError,
        SweepNotFoundError,
        TooManyConfigsError,
        TrainingFailedError,
    )
    from optiscope.landscapes import (
        Landscape,
        get_landscape,
    )
    from optiscope.records import (
        Curve,
        DataSpec,
        RunConfig,
        RunRecord,
        Trajectory,
    )
    from optiscope.settings import (
        EXERCISE,
        SETTINGS,
    )
    from optiscope.storage import (
        SqliteStore,
    )
    from optiscope.sweeps import (
        MAX_CONFIGS,
        Plan,
        SweepSpec,
        plan,
        run_configs,
    )

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "lr_find": "optiscope.api",
    "LrFindResult": "optiscope.api",
    "OptimizerComparison": "optiscope.api",
    "CompareResult": "optiscope.api",
    "ConfigError": "optiscope.errors",
    "Curve": "optiscope.records",
    "DataError": "optiscope.errors",
    "DataSpec": "optiscope.records",
    "Dataset": "optiscope.data",
    "DiskFullError": "optiscope.errors",
    "EXERCISE": "optiscope.settings",
    "EngineError": "optiscope.errors",
    "Landscape": "optiscope.landscapes",
    "MAX_CONFIGS": "optiscope.sweeps",
    "NotAStoreError": "optiscope.errors",
    "OptiscopeError": "optiscope.errors",
    "PathResult": "optiscope.api",
    "Plan": "optiscope.sweeps",
    "RaceResult": "optiscope.api",
    "RunConfig": "optiscope.records",
    "RunRecord": "optiscope.records",
    "SETTINGS": "optiscope.settings",
    "SensitivityMap": "optiscope.api",
    "SqliteStore": "optiscope.storage",
    "StorageError": "optiscope.errors",
    "StoreDamagedError": "optiscope.errors",
    "StoreNotFoundError": "optiscope.errors",
    "StoreUnavailableError": "optiscope.errors",
    "SweepExistsError": "optiscope.errors",
    "SweepNotFoundError": "optiscope.errors",
    "SweepResult": "optiscope.api",
    "SweepSpec": "optiscope.sweeps",
    "TooManyConfigsError": "optiscope.errors",
    "TrainingFailedError": "optiscope.errors",
    "Trajectory": "optiscope.records",
    "WeightDecayResult": "optiscope.api",
    "compare_configs": "optiscope.api",
    "get_landscape": "optiscope.landscapes",
    "make_dataset": "optiscope.data",
    "plan": "optiscope.sweeps",
    "race": "optiscope.api",
    "run_configs": "optiscope.sweeps",
    "sensitivity_map": "optiscope.api",
    "sweep": "optiscope.api",
    "weight_decay_bias": "optiscope.api",
}

__all__ = [
    "EXERCISE",
    "MAX_CONFIGS",
    "SETTINGS",
    "CompareResult",
    "ConfigError",
    "Curve",
    "DataError",
    "DataSpec",
    "Dataset",
    "DiskFullError",
    "EngineError",
    "Landscape",
    "LrFindResult",
    "NotAStoreError",
    "OptimizerComparison",
    "OptiscopeError",
    "PathResult",
    "Plan",
    "RaceResult",
    "RunConfig",
    "RunRecord",
    "SensitivityMap",
    "SqliteStore",
    "StorageError",
    "StoreDamagedError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "SweepExistsError",
    "SweepNotFoundError",
    "SweepResult",
    "SweepSpec",
    "TooManyConfigsError",
    "TrainingFailedError",
    "Trajectory",
    "WeightDecayResult",
    "__version__",
    "compare_configs",
    "get_landscape",
    "lr_find",
    "make_dataset",
    "plan",
    "race",
    "run_configs",
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
