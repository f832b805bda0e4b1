"""A 1,024-config group trains in one stacked model with peak memory under 1 GB.

Measured as the peak resident set size (``ru_maxrss``) of a fresh process, so the test sees
everything: torch itself (about 220 MB here), the stacked parameters, optimizer state,
activations of the training batches and of the 300 validation rows for all 1,024 configs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

LIMIT_MB = 1024

SCRIPT = textwrap.dedent(
    """
    import itertools, json, resource
    import torch
    torch.set_num_threads(1)
    from optiscope.data import make_dataset
    from optiscope.engine._vectorized import VectorizedTrainer
    from optiscope.records import RunConfig

    grid = itertools.product(
        [0.1 * 0.5**i for i in range(8)],          # lr
        [0.5**i for i in range(8)],                # weight decay
        (0.5, 0.8, 0.9, 0.99),                     # beta1
        (0.99, 0.995, 0.999, 0.9999),              # beta2
    )
    configs = [
        RunConfig(hparams={"lr": lr, "weight_decay": wd, "betas": (b1, b2)},
                  batch_size=64, epochs=1)
        for lr, wd, b1, b2 in grid
    ]
    records = VectorizedTrainer(configs, make_dataset()).run()  # one group, K = 1024
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"configs": len(records), "peak_mb": peak_kb / 1024}))
    """
)


@pytest.mark.slow
def test_a_1024_config_group_peaks_under_1_gb() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["configs"] == 1024
    assert measured["peak_mb"] < LIMIT_MB, f"peak RSS {measured['peak_mb']:.0f} MB"
