"""The fused AdamW, RMSprop, Adagrad, NAdam and RAdam kernels against the torch calls they
replace, in one process.

For K configs of the exercise's network (4-50-50-1 ReLU, friedman3 n=1000, batch size 16,
each ``--optimizer`` with a grid of its options: for AdamW lr, weight decay and betas; for
RMSprop lr, alpha, momentum, centered and weight decay; for Adagrad lr, lr_decay, weight
decay, the starting sum and eps; for NAdam lr, betas, L2 or decoupled weight decay and
momentum_decay; for RAdam lr, betas (rectified from different steps) and weight decay),
each path is timed on

- the optimizer step alone, on the stacked state of a trained group (moments with the zeros
  and subnormals of late training), and
- a whole chunk: training the K configs for a few epochs (forward, backward, update and
  validation),

alternating the two paths ``--repeats`` times and taking medians (the machine may be busy:
the ratio, not the absolute time, is the result). The curves of the two paths must be equal
(difference 0.0); the first build of the kernel is timed in a fresh cache directory.

Usage::

    .venv/bin/python benchmarks/bench_fused.py                 # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_fused.py --k 64 --epochs 2 --repeats 3
    .venv/bin/python benchmarks/bench_fused.py --optimizer rmsprop adagrad nadam radam --k 4 64
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import torch

from optiscope.data import make_dataset
from optiscope.engine import VectorizedTrainer
from optiscope.optim import _adagrad, _adam, _nadam, _native, _radam, _rmsprop
from optiscope.records import RunConfig

GRID = {
    "lr": [1, 0.1, 0.01, 0.001],
    "weight_decay": [0.5, 0.125, 0.03125, 0.01],
    "beta1": [0.5, 0.85, 0.9, 0.99],
    "beta2": [0.99, 0.995, 0.999, 0.9999],
}
GRIDS = {  # 256 configs each; --k takes every (256 // K)-th
    "adamw": [
        {"lr": lr, "weight_decay": wd, "betas": (b1, b2)}
        for lr, wd, b1, b2 in itertools.product(*GRID.values())
    ],
    "rmsprop": [
        {"lr": lr, "alpha": a, "momentum": mu, "centered": c, "weight_decay": wd}
        for lr, a, mu, c, wd in itertools.product(
            [0.01, 0.003, 0.001, 0.0003], [0.9, 0.99, 0.999, 0.5], [0.0, 0.9],
            [False, True], [0.0, 0.01]
        )
    ],
    "adagrad": [
        {"lr": lr, "lr_decay": d, "weight_decay": wd, "initial_accumulator_value": s0, "eps": e}
        for lr, d, wd, s0, e in itertools.product(
            [0.3, 0.1, 0.03, 0.01], [0.0, 0.01], [0.0, 0.01, 0.1, 0.001], [0.0, 0.1],
            [1e-10, 1e-6]
        )
    ],
    "nadam": [
        {"lr": lr, "betas": (b1, b2), "weight_decay": wd, "decoupled_weight_decay": d,
         "momentum_decay": psi}
        for lr, b1, b2, wd, d, psi in itertools.product(
            [0.01, 0.003, 0.001, 0.0003], [0.9, 0.5], [0.999, 0.99], [0.0, 0.01, 0.1, 0.5],
            [False, True], [4e-3, 0.1]
        )
    ],
    "radam": [
        {"lr": lr, "betas": (b1, b2), "weight_decay": wd, "decoupled_weight_decay": d}
        for lr, b1, b2, wd, d in itertools.product(
            [0.003, 0.001, 0.0003, 0.0001], [0.9, 0.5], [0.999, 0.99, 0.9, 0.5],
            [0.0, 0.01, 0.1, 0.3], [False, True]
        )
    ],
}  # fmt: skip
KERNELS = {
    "adamw": (_adam.fused_kernel, _adam.fused_unavailable_reason),
    "rmsprop": (_rmsprop.fused_kernel, _rmsprop.fused_unavailable_reason),
    "adagrad": (_adagrad.fused_kernel, _adagrad.fused_unavailable_reason),
    "nadam": (_nadam.fused_kernel, _nadam.fused_unavailable_reason),
    "radam": (_radam.fused_kernel, _radam.fused_unavailable_reason),
}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def configs(k: int, epochs: int, optimizer: str = "adamw") -> list[RunConfig]:
    grid = GRIDS[optimizer][:: max(1, 256 // k)][:k]
    return [
        RunConfig(optimizer=optimizer, hparams=hparams, batch_size=16, epochs=epochs, seed=123 + i)
        for i, hparams in enumerate(grid)
    ]


def is_fused(state: object) -> bool:
    """Whether the state's bound step is the fused kernel (Adam's plan or the others')."""
    plan = getattr(state, "_plan", None)
    return plan is not None and (
        getattr(plan, "fused", None) is not None or getattr(plan, "kernel", None) is not None
    )


def median_ms(times: Sequence[float]) -> float:
    return 1000 * statistics.median(times)


def time_chunk(group: list[RunConfig], data: object, fused: bool) -> tuple[float, list]:
    trainer = VectorizedTrainer(group, data)  # type: ignore[arg-type]
    trainer.state.fused = fused
    start = time.perf_counter()
    records = trainer.run()
    return time.perf_counter() - start, records


def time_step(trainer: VectorizedTrainer, fused: bool, steps: int) -> float:
    """Seconds per optimizer step on a copy of ``trainer``'s trained state."""
    params, grads = trainer.params.clone(), trainer.grads.clone()
    info = trainer.info
    assert info.step is not None
    trainer.state._plan = None  # (holds raw addresses: bound again below, to the copy)
    state = copy.deepcopy(trainer.state)
    state.fused = fused
    info.step([params], [grads], state)  # bind
    assert is_fused(state) is fused
    start = time.perf_counter()
    for _ in range(steps):
        info.step([params], [grads], state)
    return (time.perf_counter() - start) / steps


def build_seconds(load: Callable[[], object] = _native.load.__wrapped__) -> float:
    """Seconds to build and check a library in a fresh cache (``load``: an uncached loader)."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"], before = cache, os.environ.get("XDG_CACHE_HOME")
        try:
            start = time.perf_counter()
            kernel = load()
            seconds = time.perf_counter() - start
        finally:
            if before is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = before
    assert kernel is not None, (_native.unavailable_reason(), _native.unavailable_reason("rms"))
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizer", nargs="+", choices=sorted(GRIDS), default=["adamw"])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 64, 256])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed chunk")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per timing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for optimizer in args.optimizer:
        kernel, reason = KERNELS[optimizer]
        if kernel() is None:
            print(f"no fused {optimizer} kernel here: {reason()}", file=sys.stderr)
            return 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.backends.cpu.get_cpu_capability()}), 1 thread; load average {load:.1f} "
        f"(timings under that load: medians of {args.repeats} alternating runs)"
    )
    adam, rms = build_seconds(), build_seconds(_native.load_rms.__wrapped__)
    nadam = build_seconds(_native.load_nadam.__wrapped__)
    radam = build_seconds(_native.load_radam.__wrapped__)
    print(
        f"# first build of the kernels (fresh cache): Adam {adam:.2f} s, "
        f"RMSprop/Adagrad {rms:.2f} s, NAdam {nadam:.2f} s, RAdam {radam:.2f} s"
    )
    data = make_dataset()
    print(
        "\n| optimizer | K | optimizer step, torch calls (ms) | fused (ms) | ratio "
        f"| chunk of {args.epochs} epochs, torch calls (ms) | fused (ms) | ratio "
        "| curve difference |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for optimizer, k in itertools.product(args.optimizer, args.k):
        group = configs(k, args.epochs, optimizer)
        chunk: dict[bool, list[float]] = {True: [], False: []}
        step: dict[bool, list[float]] = {True: [], False: []}
        curves: dict[bool, list] = {}
        trained = VectorizedTrainer(group, data)
        trained.run()
        for _ in range(args.repeats):
            for fused in (False, True):
                seconds, records = time_chunk(group, data, fused)
                chunk[fused].append(seconds)
                curves[fused] = [r.curve.valid_loss for r in records]
                step[fused].append(time_step(trained, fused, args.steps))
        difference = max(
            (abs(a - b) if a == a or b == b else 0.0)  # NaN against NaN counts as equal
            for x, y in zip(curves[True], curves[False], strict=True)
            for a, b in zip(x, y, strict=True)
        )
        s0, s1 = median_ms(step[False]), median_ms(step[True])
        c0, c1 = median_ms(chunk[False]), median_ms(chunk[True])
        print(
            f"| {optimizer} | {k} | {s0:.3f} | {s1:.3f} | {s0 / s1:.2f}x | {c0:.0f} | {c1:.0f} "
            f"| {c0 / c1:.2f}x | {difference} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
