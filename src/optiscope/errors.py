"""Exceptions raised by optiscope.

Every error says what went wrong, the bad value, what is allowed and how to fix it.

::

    OptiscopeError
    ├── ConfigError (also ValueError)     bad settings, caught before anything runs
    │   └── TooManyConfigsError           a plan larger than its cap (counted, not expanded)
    ├── DataError (also ValueError)       bad or unusable data (shapes, NaN, empty splits)
    ├── StorageError                      the results store cannot be read or written
    └── EngineError                       a training engine could not run a group
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "EngineError",
    "OptiscopeError",
    "StorageError",
    "TooManyConfigsError",
]


class OptiscopeError(Exception):
    """Base class of every error optiscope raises on purpose."""


class ConfigError(OptiscopeError, ValueError):
    """A setting is invalid; raised before anything is trained."""


class DataError(OptiscopeError, ValueError):
    """Data cannot be used: wrong shape, NaN or inf values, or an empty split."""


class StorageError(OptiscopeError):
    """The results store cannot be opened, read or written."""


class EngineError(OptiscopeError):
    """A training engine failed for a reason other than the settings."""


class TooManyConfigsError(ConfigError):
    """A sweep counts more configs than the cap it was planned with; nothing was expanded.

    Attributes:
        size: configs the spec describes (counted from its sizes).
        cap: the largest plan allowed without asking.
    """

    def __init__(self, size: int, cap: int) -> None:
        self.size, self.cap = size, cap
        super().__init__(
            f"the sweep has {size:,} configs, more than the cap of {cap:,}; plan it with a "
            "larger max_configs (or None) if you mean it. Nothing was run."
        )
