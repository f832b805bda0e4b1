"""How long a group of configs takes to train: a rough model for scheduling, not a promise.

The vectorized step costs a fixed overhead (a few dozen small operations, dominated by
per-call overhead) plus a per-config part that grows with the batch; batches below 8 rows pay
for one output-layer call per config (see :mod:`optiscope.engine._exact`). The constants were
measured on a 2-core machine with one intra-op thread (docs/performance.md); only ratios
between tasks matter to the scheduler, and their size against a worker's start-up.
"""

from __future__ import annotations

import math

from optiscope.records import RunConfig

__all__ = ["estimate_seconds"]

STEP_SECONDS = 100e-6
"""Fixed cost of one vectorized step (forward, backward, update) at any K."""
CONFIG_STEP_SECONDS = 12e-6
"""Extra cost of one step per stacked config."""
ROW_STEP_SECONDS = 0.6e-6
"""Extra cost of one step per config and batch row."""
SMALL_BATCH_SECONDS = 8e-6
"""Extra per config and step for batches under 8 rows (per-config output layer). Was 30 us:
on the AMD EPYC (Zen 4), with the fused AdamW step, groups of 8-64 configs at batch sizes 2
and 4 took 0.46-0.66x the estimate that gave, batch sizes 8-64 0.75-1.3x (noisy, under load)."""
VALID_ROW_SECONDS = 0.25e-6
"""Validation forward, per config and validation row."""
REFERENCE_STEP_SECONDS = 600e-6
"""One step of the reference engine (plain autograd and ``torch.optim``)."""


def estimate_seconds(
    config: RunConfig,
    k: int = 1,
    *,
    engine: str = "vectorized",
    n_train: int | None = None,
) -> float:
    """Estimated seconds to train ``k`` lockstep configs like ``config`` on one core.

    Args:
        config: any config of the group (batch size, epochs and data are shared).
        k: configs trained together.
        engine: ``vectorized`` (all at once) or ``reference`` (one after another).
        n_train: training rows (default: from ``config.data``).
    """
    n = config.data.n
    n_train = n_train if n_train is not None else round(n * config.data.train_fraction)
    n_valid = max(1, n - n_train)
    batch = min(config.batch_size, max(1, n_train))
    steps = math.ceil(n_train / batch) * config.epochs
    if engine == "reference":
        return k * steps * REFERENCE_STEP_SECONDS
    per_config = CONFIG_STEP_SECONDS + ROW_STEP_SECONDS * batch
    if batch < 8:
        per_config += SMALL_BATCH_SECONDS
    valid = config.epochs * k * n_valid * VALID_ROW_SECONDS
    return steps * (STEP_SECONDS + k * per_config) + valid
