"""Training engines: the reference PyTorch loop (ground truth) and faster exact paths."""

from optiscope.engine._metrics import METRICS, evaluate
from optiscope.engine._reference import train_reference
from optiscope.engine._validate import config_problems, validate_config

__all__ = ["METRICS", "config_problems", "evaluate", "train_reference", "validate_config"]
