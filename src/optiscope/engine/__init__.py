"""Training engines: the reference PyTorch loop (ground truth) and faster exact paths."""

from optiscope.engine._cost import estimate_seconds
from optiscope.engine._exact import InexactError
from optiscope.engine._metrics import METRICS, evaluate
from optiscope.engine._reference import train_reference
from optiscope.engine._validate import config_problems, validate_config
from optiscope.engine._vectorized import VectorizedTrainer, lockstep_key, train_vectorized

__all__ = [
    "METRICS",
    "InexactError",
    "VectorizedTrainer",
    "config_problems",
    "estimate_seconds",
    "evaluate",
    "lockstep_key",
    "train_reference",
    "train_vectorized",
    "validate_config",
]
