"""What an lr schedule and the new optimizers cost the vectorized engine, in one process.

Workload: DESIGN.md's (friedman3 n=1000, 700/300 split, MLP 4-50-50-1 ReLU, batch size 16),
64 configs (8 lrs x 8 seeds) in one lockstep group, ``--epochs`` epochs. Variants, interleaved
and repeated, the median reported as seconds per config and as a ratio to ``adamw constant``:

- AdamW with a constant lr (the baseline); with a step schedule of gamma 1 (the same lrs and
  numbers, read per step: the cost of the per-step path itself); with one shared cosine
  schedule (the per-step lr is one Python scalar); with four schedules mixed in the group
  (per-step columns);
- SGD with Nesterov momentum, NAdam, RAdam and Adamax, constant lr.

A schedule's lr also changes the numbers trained (fewer or more subnormal gradients late in
training, which are slow on these CPUs), so a ratio below 1 is not a speed-up of the code.

Usage::

    .venv/bin/python benchmarks/bench_schedules.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_schedules.py --repeats 1 --epochs 2   # a smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from optiscope.data import make_dataset
from optiscope.engine import train_vectorized
from optiscope.records import RunConfig, ScheduleSpec

MIXED = [
    ScheduleSpec("cosine", warmup=100),
    ScheduleSpec("step", step_size=1, gamma=0.9),
    ScheduleSpec("onecycle"),
    ScheduleSpec("linear", warmup=50),
]
LRS = [10 ** (-4 + 0.4 * i) for i in range(8)]


def _configs(optimizer: str, schedules: list[ScheduleSpec], epochs: int) -> list[RunConfig]:
    hparams = {"momentum": 0.9, "nesterov": True} if optimizer == "sgd" else {}
    return [
        RunConfig(
            optimizer=optimizer,
            hparams={**hparams, "lr": lr},
            epochs=epochs,
            seed=seed,
            schedule=schedules[(i + seed) % len(schedules)],
        )
        for i, lr in enumerate(LRS)
        for seed in range(8)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = make_dataset()
    variants = {
        "adamw constant": _configs("adamw", [ScheduleSpec()], args.epochs),
        # the same lrs as constant, through the per-step path: what reading them costs
        "adamw step gamma=1": _configs(
            "adamw", [ScheduleSpec("step", step_size=1, gamma=1.0)], args.epochs
        ),
        "adamw cosine (shared)": _configs("adamw", [ScheduleSpec("cosine")], args.epochs),
        "adamw 4 schedules": _configs("adamw", MIXED, args.epochs),
        "sgd nesterov": _configs("sgd", [ScheduleSpec()], args.epochs),
        "nadam": _configs("nadam", [ScheduleSpec()], args.epochs),
        "radam": _configs("radam", [ScheduleSpec()], args.epochs),
        "adamax": _configs("adamax", [ScheduleSpec()], args.epochs),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    train_vectorized(variants["adamw constant"][:8], data)  # (first-use costs, untimed)
    for _ in range(args.repeats):
        for name, configs in variants.items():
            start = time.perf_counter()
            train_vectorized(configs, data)
            times[name].append((time.perf_counter() - start) / len(configs))
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"1 thread, {args.epochs} epochs, 64 configs, median of {args.repeats}")  # fmt: skip
    base = statistics.median(times["adamw constant"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:24s} {1000 * median:8.1f} ms/config   x{median / base:.2f}")


if __name__ == "__main__":
    main()
