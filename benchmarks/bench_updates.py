"""Each registered optimizer's stacked update, against the fused AdamW step, in one process.

Issue 14 asked for exact one-pass updates, "AdamW/Adam (then the others)". AdamW, Adam,
RMSprop and Adagrad have one (``optim/_fused_adam.c``, ``optim/_fused_rms.c``); every other
registered optimizer updates the stacked state with torch calls bound once per group (exact, a
pass over the state per call). This script measures what that leaves on the table: for K
configs of the exercise's network (4-50-50-1 ReLU, friedman3, batch size 16) it trains each
optimizer one epoch (so the state holds the values of real training), then times its update
alone, and a whole training step for scale (the AdamW group's forward, backward, loss and
update). Where an optimizer has a fused update, its torch calls (``state.fused = False``) are
timed too, alternating with it. Medians of ``--repeats`` alternations, one intra-op thread;
the ratios measured in the same process are the result.

Usage::

    .venv/bin/python benchmarks/bench_updates.py          # about 20 s
    .venv/bin/python benchmarks/bench_updates.py --k 64 --steps 100 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

import torch

from bench_engine import cpu_name
from optiscope.data import Dataset, make_dataset
from optiscope.engine import VectorizedTrainer
from optiscope.optim import OPTIMIZERS
from optiscope.records import RunConfig

LRS = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.01}  # the others: 0.001 to 0.01


def trainer(optimizer: str, k: int, data: Dataset) -> VectorizedTrainer:
    """K configs of ``optimizer`` (lrs spread around a sensible one), trained one epoch."""
    base = LRS.get(optimizer, 0.001)
    configs = [
        RunConfig(
            optimizer=optimizer,
            hparams={"lr": base * (0.5 + i / k)},
            batch_size=16,
            epochs=1,
            seed=123,
        )
        for i in range(k)
    ]
    group = VectorizedTrainer(configs, data)
    group.run()
    return group


def update_us(group: VectorizedTrainer, steps: int, *, fused: bool = True) -> float:
    """Microseconds per update of the group's stacked state (its parameters keep moving),
    with the fused kernel or (``fused=False``, where the state has one) the torch calls."""
    step = group.info.step
    assert step is not None
    if hasattr(group.state, "fused"):
        group.state.fused = fused
        group.state._plan = None  # (bound again at the first step: outside the timing)
        step([group.params], [group.grads], group.state)
    start = time.perf_counter()
    for _ in range(steps):
        step([group.params], [group.grads], group.state)
    return (time.perf_counter() - start) / steps * 1e6


def has_fused(group: VectorizedTrainer) -> bool:
    """Whether the group's update has a fused kernel here (and so torch calls to compare)."""
    plan = getattr(group.state, "_plan", None)
    return plan is not None and (
        getattr(plan, "fused", None) is not None or getattr(plan, "kernel", None) is not None
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 64])
    parser.add_argument("--steps", type=int, default=200, help="updates per timing")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = make_dataset()
    print(
        f"# {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, one intra-op "
        f"thread, load average {os.getloadavg()[0]:.2f}"
    )
    for k in args.k:
        groups = {name: trainer(name, k, data) for name in OPTIMIZERS}
        # a whole training step for scale: one epoch of the AdamW group, per step
        adamw = groups["adamw"]
        steps_per_epoch = -(-data.n_train // 16)
        start = time.perf_counter()
        adamw.run()
        whole = (time.perf_counter() - start) / steps_per_epoch * 1e6
        times: dict[str, list[float]] = {name: [] for name in groups}
        calls: dict[str, list[float]] = {n: [] for n, g in groups.items() if has_fused(g)}
        for _ in range(args.repeats):
            for name, group in groups.items():
                times[name].append(update_us(group, args.steps))
                if name in calls:
                    calls[name].append(update_us(group, args.steps, fused=False))
                    update_us(group, 1)  # (back to the fused step for the next repeat)
        fused = statistics.median(times["adamw"])
        print(f"\nK = {k}: a whole AdamW training step (batch 16, with validation) {whole:.0f} us")
        print(
            "| optimizer | update, us/step | / fused AdamW | share of an AdamW-sized step "
            "| its torch calls, us/step | fused speed-up |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for name, values in times.items():
            us = statistics.median(values)
            share = us / (whole - fused + us)
            plain = statistics.median(calls[name]) if name in calls else None
            columns = ("-", "-") if plain is None else (f"{plain:.1f}", f"{plain / us:.2f}x")
            print(
                f"| {name} | {us:.1f} | {us / fused:.2f} | {share:.0%} "
                f"| {columns[0]} | {columns[1]} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
