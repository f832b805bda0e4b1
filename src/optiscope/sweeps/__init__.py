"""Sweeps: expand settings into configs, group them, run them on a backend."""

from optiscope.sweeps._run import ENGINES, RecordCallback, run_configs

__all__ = ["ENGINES", "RecordCallback", "run_configs"]
