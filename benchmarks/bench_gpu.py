"""optiscope's engine on a device (a CUDA GPU by default): ms per config on the exercise's grid.

The grid is lr x weight_decay x beta1 x beta2 (4 values each, the 256 configs of
bench_engine.py) times seeds, so 4,096 configs are 16 seeds of it. Each size is trained twice
through ``run_configs`` (the first call pays for probing kernels and the device's start-up),
and a sample of its configs is trained again, one by one, by the reference engine on the same
device: the engine's promise is the reference's numbers on the same device, so the largest
difference between their validation curves is printed too (it should be 0).

Usage::

    .venv/bin/python benchmarks/bench_gpu.py                           # cuda: 256 and 4,096
    .venv/bin/python benchmarks/bench_gpu.py --device cpu --sizes 16 --epochs 2   # a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Sequence

import torch

from optiscope.data import make_dataset
from optiscope.engine import train_reference
from optiscope.records import RunConfig, RunRecord
from optiscope.sweeps import run_configs

GRID = (
    [1, 0.1, 0.01, 0.001],  # lr
    [0.5, 0.125, 0.03125, 0.01],  # weight_decay
    [0.5, 0.85, 0.9, 0.99],  # beta1
    [0.99, 0.995, 0.999, 0.9999],  # beta2
)


def grid_configs(count: int, epochs: int) -> list[RunConfig]:
    """The first ``count`` configs of the grid times seeds 123, 124, ..."""
    points = itertools.product(range(-(-count // 256)), *GRID)
    return [
        RunConfig(
            hparams={"lr": lr, "weight_decay": wd, "betas": (b1, b2)},
            epochs=epochs,
            seed=123 + seed,
            metric="batch_rmse",  # the exercise's metric, as bench_engine.py
        )
        for seed, lr, wd, b1, b2 in itertools.islice(points, count)
    ]


def largest_difference(ours: RunRecord, theirs: RunRecord) -> float:
    """Largest absolute difference between two runs' validation curves, epoch by epoch (NaN
    against NaN counts as equal); infinite when they ended differently (one diverged at
    another epoch, or not at all)."""
    a_curve, b_curve = ours.curve.valid_loss, theirs.curve.valid_loss
    if (ours.status, ours.diverged_epoch, len(a_curve)) != (
        theirs.status,
        theirs.diverged_epoch,
        len(b_curve),
    ):
        return math.inf
    worst = 0.0
    for a, b in zip(a_curve, b_curve, strict=True):
        if not (math.isnan(a) and math.isnan(b)):
            worst = max(worst, abs(a - b) if math.isfinite(a - b) else math.inf)
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="256,4096", help="grid sizes, comma-separated")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--sample", type=int, default=4, help="configs checked one by one")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"{args.device} is not available here: no CUDA GPU", file=sys.stderr)
        return 2
    data = make_dataset()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"# {name}, torch {torch.__version__}, {args.epochs} epochs")
    print("| configs | first call, ms/config | again, ms/config | max curve difference |")
    print("|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        configs = grid_configs(size, args.epochs)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            records = run_configs(configs, data=data, device=args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        step = max(1, size // args.sample)
        checked = [
            largest_difference(records[i], train_reference(configs[i], data, device=args.device))
            for i in range(0, size, step)
        ]
        print(
            f"| {size} | {1e3 * times[0] / size:.2f} | {1e3 * times[1] / size:.2f} "
            f"| {max(checked):.1g} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
