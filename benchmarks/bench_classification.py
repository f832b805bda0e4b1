"""What cross-entropy training costs against MSE training, in both engines, one process.

Workload: DESIGN.md's network and schedule (MLP 50-50 ReLU, AdamW, batch size 16) for a
shorter run (5 epochs by default), n=1000 (700/300), a grid of 16 learning rates x 4 seeds
(64 configs: one lockstep group), on friedman3 (MSE, the baseline), spirals (2 classes) and
cassini (3 classes). The vectorized engine trains the 64 configs; the reference loop (plain
PyTorch, ``torch.optim``, ``F.mse_loss`` / ``F.cross_entropy``) trains the first 4 of them.
Variants are interleaved and repeated; the median is reported, per config, with the ratios
that hold on a busy machine: each engine against friedman3's, and the reference loop
against the vectorized engine on the same data.

Usage::

    .venv/bin/python benchmarks/bench_classification.py               # about a minute
    .venv/bin/python benchmarks/bench_classification.py --repeats 1 --epochs 1 --n 100  # smoke
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time

import torch

from optiscope.data import make_dataset
from optiscope.engine import train_reference, train_vectorized
from optiscope.records import DataSpec, RunConfig

SETS = {"friedman3": "rmse", "spirals": "log_loss", "cassini": "log_loss"}


def _configs(name: str, epochs: int, n: int) -> list[RunConfig]:
    spec = DataSpec(name=name, n=n)
    lrs = [1e-3 * 1.25**i for i in range(16)]
    return [
        RunConfig(data=spec, metric=SETS[name], epochs=epochs, hparams={"lr": lr}, seed=seed)
        for lr, seed in itertools.product(lrs, (1, 2, 3, 4))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000, help="samples (70%% train)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    train_reference(RunConfig(data=DataSpec(n=50), epochs=1))  # import torch.optim's extras
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name in SETS:
            configs = _configs(name, args.epochs, args.n)
            data = make_dataset(configs[0].data)
            start = time.perf_counter()
            train_vectorized(configs, data)
            times.setdefault((name, "vectorized"), []).append(
                (time.perf_counter() - start) / len(configs)
            )
            start = time.perf_counter()
            for config in configs[:4]:
                train_reference(config, data)
            times.setdefault((name, "reference"), []).append((time.perf_counter() - start) / 4)
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"{'data':10s} {'vectorized':>14s} {'vs MSE':>7s} {'reference':>14s} {'vs MSE':>7s}"
          f" {'ref/vec':>8s}")  # fmt: skip
    for name in SETS:
        vec, ref = median[(name, "vectorized")], median[(name, "reference")]
        base_vec, base_ref = median[("friedman3", "vectorized")], median[("friedman3", "reference")]
        print(
            f"{name:10s} {vec * 1e3:11.1f} ms {vec / base_vec:6.2f}x {ref * 1e3:11.1f} ms "
            f"{ref / base_ref:6.2f}x {ref / vec:7.1f}x"
        )


if __name__ == "__main__":
    main()
