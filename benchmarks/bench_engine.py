"""The exercise's literal training loop against optiscope, in one process and one run.

Workloads (the exercise's settings: friedman3 n=1000 sd=0.1, 700/300 split, MLP 4-50-50-1,
AdamW lr=0.01 betas=(0.9, 0.999) weight_decay=0.01, batch size 16, 30 epochs, seed 123, data
order, the exercise's mean-of-batch-RMSE metric):

- the lr sweep (4 configs), the batch-size sweep (6), all five sweeps (24 configs, the default
  config four times over, as the exercise runs it);
- a 256-config grid: lr x weight_decay x beta1 x beta2, 4 values each.

The literal loop is the exercise's code (DataLoader + ``nn.Sequential`` + ``torch.optim.AdamW``,
one config after another), timed once per config of the five sweeps; for the grid it is timed
on a sample of its configs (every grid config does the same work: same batch size and epochs)
and scaled to 256. optiscope runs each workload twice through ``run_configs`` (its default,
the vectorized engine with an automatic choice of backend): the first call pays for starting
worker processes if it uses them, the second finds them warm.

Reported per workload: milliseconds per config, the speedup, the largest difference between
the two engines' validation curves, and the fraction of the machine's FLOP limit used (the
limit measured here as the sgemm rate of a large square product with all threads).

Usage::

    .venv/bin/python benchmarks/bench_engine.py            # about two minutes on 2 cores
    .venv/bin/python benchmarks/bench_engine.py --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from optiscope.data import Dataset, make_dataset
from optiscope.records import RunConfig
from optiscope.sweeps import run_configs

DEFAULTS = {"batch_size": 16, "lr": 0.01, "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999}
SWEEPS = {
    "lr": [1, 0.1, 0.01, 0.001],
    "batch_size": [2, 4, 8, 16, 32, 64],
    "weight_decay": [0.5, 0.25, 0.125, 0.0625, 0.03125],
    "beta1": [0.5, 0.85, 0.9, 0.95, 0.99, 0.999],
    "beta2": [0.99, 0.999, 0.9999],
}
GRID = {
    "lr": [1, 0.1, 0.01, 0.001],
    "weight_decay": [0.5, 0.125, 0.03125, 0.01],
    "beta1": [0.5, 0.85, 0.9, 0.99],
    "beta2": [0.99, 0.995, 0.999, 0.9999],
}
EPOCHS, SEED = 30, 123


# -- the exercise's loop, literally ---------------------------------------------------------


def literal_train_valid(settings: dict[str, float], data: Dataset) -> list[float]:
    """The exercise's ``train_valid``: returns the validation curve (mean of batch RMSEs)."""
    batch_size = int(settings["batch_size"])
    torch.manual_seed(SEED)
    network = nn.Sequential(
        nn.Linear(data.n_features, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1)
    )
    opt = torch.optim.AdamW(
        network.parameters(),
        lr=settings["lr"],
        betas=(settings["beta1"], settings["beta2"]),
        weight_decay=settings["weight_decay"],
    )
    dl_train = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=batch_size)
    dl_valid = DataLoader(TensorDataset(data.X_valid, data.y_valid), batch_size=batch_size)
    curve = []
    for _ in range(EPOCHS):
        network.train()
        for X, y in dl_train:
            opt.zero_grad()
            loss = F.mse_loss(network(X), y)
            loss.backward()
            opt.step()
        network.eval()
        losses = []
        for X, y in dl_valid:
            with torch.no_grad():
                losses.append(torch.sqrt(F.mse_loss(network(X), y)).item())
        curve.append(sum(losses) / len(losses))
    return curve


# -- workloads ------------------------------------------------------------------------------


def _config(settings: dict[str, float]) -> RunConfig:
    return RunConfig(
        hparams={
            "lr": settings["lr"],
            "betas": (settings["beta1"], settings["beta2"]),
            "weight_decay": settings["weight_decay"],
        },
        batch_size=int(settings["batch_size"]),
        epochs=EPOCHS,
        seed=SEED,
        metric="batch_rmse",  # the exercise's metric, so both loops compute the same curve
    )


def five_sweeps() -> dict[str, list[dict[str, float]]]:
    return {
        name: [{**DEFAULTS, name: value} for value in values] for name, values in SWEEPS.items()
    }


def grid() -> list[dict[str, float]]:
    names = list(GRID)
    return [
        {**DEFAULTS, **dict(zip(names, values, strict=True))}
        for values in itertools.product(*GRID.values())
    ]


def flops_per_config(settings: dict[str, float], data: Dataset) -> float:
    """Floating-point operations of one config's training, counted from the shapes.

    Per row a forward pass is ``2 * (4*50 + 50*50 + 50*1)`` multiply-adds counted twice;
    the backward pass is about twice that (weight and input gradients, none for the input);
    AdamW does about 15 operations per parameter and step; validation is a forward pass.
    """
    widths = [data.n_features, 50, 50, 1]
    forward = 2 * sum(a * b for a, b in itertools.pairwise(widths))  # per row
    backward = 2 * forward - 2 * widths[0] * widths[1]
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    steps = math.ceil(data.n_train / settings["batch_size"])
    per_epoch = data.n_train * (forward + backward) + steps * 15 * params
    per_epoch += data.n_valid * forward
    return EPOCHS * per_epoch


def sgemm_gflops() -> float:
    """The machine's float32 matrix-product rate: best of a few 2048^3 products, all threads."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    configs: int
    literal_ms: float
    optiscope_cold_ms: float
    optiscope_warm_ms: float
    speedup_cold: float
    speedup_warm: float
    max_curve_difference: float
    flop_fraction: float
    literal_measured: int


def _run_optiscope(configs: Sequence[RunConfig], data: Dataset) -> tuple[float, list]:
    start = time.perf_counter()
    records = run_configs(configs, data=data)
    return time.perf_counter() - start, records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid-sample", type=int, default=8, help="literal runs for the grid")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    data = make_dataset()
    peak = sgemm_gflops()
    threads = torch.get_num_threads()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {threads} intra-op threads for the literal loop"
    )
    print(f"# sgemm (2048^3, {threads} threads): {peak:.0f} GFLOP/s = the FLOP limit below")

    # The literal loop: every config of the five sweeps once, in the exercise's order.
    sweeps = five_sweeps()
    literal: dict[str, list[tuple[float, list[float]]]] = {}
    for name, settings_list in sweeps.items():
        literal[name] = []
        for settings in settings_list:
            start = time.perf_counter()
            curve = literal_train_valid(settings, data)
            literal[name].append((time.perf_counter() - start, curve))
        print(f"# literal {name} sweep: {sum(t for t, _ in literal[name]):.1f} s", flush=True)
    grid_settings = grid()
    sample = random.Random(0).sample(range(len(grid_settings)), args.grid_sample)
    grid_literal = []
    for index in sample:
        start = time.perf_counter()
        curve = literal_train_valid(grid_settings[index], data)
        grid_literal.append((index, time.perf_counter() - start, curve))
    print(f"# literal grid sample of {len(sample)}: {sum(t for _, t, _ in grid_literal):.1f} s")

    workloads = {
        "lr sweep": (sweeps["lr"], list(literal["lr"])),
        "batch-size sweep": (sweeps["batch_size"], literal["batch_size"]),
        "five sweeps": (
            [s for name in SWEEPS for s in sweeps[name]],
            [v for name in SWEEPS for v in literal[name]],
        ),
    }
    rows = []
    for name, (settings_list, measured) in workloads.items():
        configs = [_config(s) for s in settings_list]
        cold, records = _run_optiscope(configs, data)
        warm, records = _run_optiscope(configs, data)
        literal_seconds = sum(t for t, _ in measured)
        difference = max(
            _curve_difference(curve, record.curve.valid_loss)
            for (_, curve), record in zip(measured, records, strict=True)
        )
        flops = sum(flops_per_config(s, data) for s in settings_list)
        rows.append(
            _row(
                name,
                len(configs),
                literal_seconds,
                cold,
                warm,
                difference,
                flops,
                peak,
                len(configs),
            )
        )
        print(f"# {name}: done", flush=True)

    configs = [_config(s) for s in grid_settings]
    cold, records = _run_optiscope(configs, data)
    warm, records = _run_optiscope(configs, data)
    per_config = sum(t for _, t, _ in grid_literal) / len(grid_literal)
    difference = max(
        _curve_difference(curve, records[index].curve.valid_loss)
        for index, _, curve in grid_literal
    )
    flops = sum(flops_per_config(s, data) for s in grid_settings)
    rows.append(
        _row(
            "256-config grid",
            len(configs),
            per_config * len(configs),
            cold,
            warm,
            difference,
            flops,
            peak,
            len(grid_literal),
        )
    )

    print()
    print(
        "| workload | configs | literal loop, ms/config | optiscope, ms/config (first call "
        "/ warm) | speedup (first / warm) | max curve difference | FLOP limit used (warm) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.workload} | {r.configs} | {r.literal_ms:.0f} | {r.optiscope_cold_ms:.1f} / "
            f"{r.optiscope_warm_ms:.1f} | {r.speedup_cold:.1f}x / {r.speedup_warm:.1f}x | "
            f"{r.max_curve_difference:.1g} | {100 * r.flop_fraction:.2f}% |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sgemm_gflops": peak, "rows": [asdict(r) for r in rows]}, f, indent=2)
    return 0


def _curve_difference(literal: Sequence[float], ours: Sequence[float]) -> float:
    """Largest absolute difference, epoch by epoch; NaN against NaN counts as equal.

    A diverged run's optiscope curve ends at the epoch it diverged (the literal loop goes on
    training NaNs), so only optiscope's epochs are compared.
    """
    worst = 0.0
    for a, b in zip(literal, ours, strict=False):
        if math.isnan(a) and math.isnan(b):
            continue
        worst = max(worst, abs(a - b) if math.isfinite(a - b) else math.inf)
    return worst


def _row(
    name: str,
    configs: int,
    literal_seconds: float,
    cold: float,
    warm: float,
    difference: float,
    flops: float,
    peak: float,
    measured: int,
) -> Row:
    return Row(
        workload=name,
        configs=configs,
        literal_ms=1e3 * literal_seconds / configs,
        optiscope_cold_ms=1e3 * cold / configs,
        optiscope_warm_ms=1e3 * warm / configs,
        speedup_cold=literal_seconds / cold,
        speedup_warm=literal_seconds / warm,
        max_curve_difference=difference,
        flop_fraction=flops / warm / (peak * 1e9),
        literal_measured=measured,
    )


if __name__ == "__main__":
    sys.exit(main())
