"""Training engines: the reference PyTorch loop (ground truth) and faster exact paths."""

from optiscope.engine._checkpoint import (
    EVERY_EPOCH,
    Checkpoint,
    CheckpointCallback,
    CheckpointPolicy,
)
from optiscope.engine._cost import estimate_seconds
from optiscope.engine._decay import (
    DECAY_RULES,
    DecayFixedPoint,
    decay_fixed_point,
    decay_fixed_points,
)
from optiscope.engine._exact import InexactError, known_choices, learn_choices
from optiscope.engine._lr_range import LrRange, lr_ramp, lr_range_test, smooth_losses, stop_index
from optiscope.engine._metrics import METRICS, evaluate
from optiscope.engine._path_optimizers import (
    PATH_OPTIMIZERS,
    STEP_FUNCTION_HELP,
    PathOptimizer,
    batched_names,
    format_hparams,
    parse_optimizer_text,
    resolve_optimizer,
)
from optiscope.engine._reference import train_reference
from optiscope.engine._threads import one_intra_op_thread
from optiscope.engine._trajectory import DECAYS, GridRun, check_decay, run_grid, run_path
from optiscope.engine._validate import config_problems, validate_config
from optiscope.engine._vectorized import VectorizedTrainer, lockstep_key, train_vectorized

__all__ = [
    "DECAYS",
    "DECAY_RULES",
    "EVERY_EPOCH",
    "METRICS",
    "PATH_OPTIMIZERS",
    "STEP_FUNCTION_HELP",
    "Checkpoint",
    "CheckpointCallback",
    "CheckpointPolicy",
    "DecayFixedPoint",
    "GridRun",
    "InexactError",
    "LrRange",
    "PathOptimizer",
    "VectorizedTrainer",
    "batched_names",
    "check_decay",
    "config_problems",
    "decay_fixed_point",
    "decay_fixed_points",
    "estimate_seconds",
    "evaluate",
    "format_hparams",
    "known_choices",
    "learn_choices",
    "lockstep_key",
    "lr_ramp",
    "lr_range_test",
    "one_intra_op_thread",
    "parse_optimizer_text",
    "resolve_optimizer",
    "run_grid",
    "run_path",
    "smooth_losses",
    "stop_index",
    "train_reference",
    "train_vectorized",
    "validate_config",
]
