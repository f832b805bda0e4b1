"""The fused Adam/AdamW kernel against the torch calls it replaces, in one process.

For K configs of the exercise's network (4-50-50-1 ReLU, friedman3 n=1000, batch size 16,
AdamW with a grid of lr, weight decay and betas), each path is timed on

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
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence

import torch

from optiscope.data import make_dataset
from optiscope.engine import VectorizedTrainer
from optiscope.optim import _adam, _native
from optiscope.records import RunConfig

GRID = {
    "lr": [1, 0.1, 0.01, 0.001],
    "weight_decay": [0.5, 0.125, 0.03125, 0.01],
    "beta1": [0.5, 0.85, 0.9, 0.99],
    "beta2": [0.99, 0.995, 0.999, 0.9999],
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


def configs(k: int, epochs: int) -> list[RunConfig]:
    grid = list(itertools.product(*GRID.values()))[:: max(1, 256 // k)][:k]
    return [
        RunConfig(
            hparams={"lr": lr, "weight_decay": wd, "betas": (b1, b2)},
            batch_size=16,
            epochs=epochs,
            seed=123 + i,
        )
        for i, (lr, wd, b1, b2) in enumerate(grid)
    ]


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
    assert info.init_state is not None and info.step is not None
    hparams = [info.complete(c.hparam_dict) for c in trainer.configs]
    state = info.init_state([params], hparams)
    state.exp_avg[0].copy_(trainer.state.exp_avg[0])
    state.exp_avg_sq[0].copy_(trainer.state.exp_avg_sq[0])
    state.step, state.fused = trainer.state.step, fused
    info.step([params], [grads], state)  # bind
    assert (state._plan.fused is not None) is fused
    start = time.perf_counter()
    for _ in range(steps):
        info.step([params], [grads], state)
    return (time.perf_counter() - start) / steps


def build_seconds() -> float:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"], before = cache, os.environ.get("XDG_CACHE_HOME")
        try:
            start = time.perf_counter()
            kernel = _native.load.__wrapped__()
            seconds = time.perf_counter() - start
        finally:
            if before is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = before
    assert kernel is not None, _native.unavailable_reason()
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 64, 256])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed chunk")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per timing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if _adam.fused_kernel() is None:
        print(f"no fused kernel here: {_adam.fused_unavailable_reason()}", file=sys.stderr)
        return 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.backends.cpu.get_cpu_capability()}), 1 thread; load average {load:.1f} "
        f"(timings under that load: medians of {args.repeats} alternating runs)"
    )
    print(f"# first build of the kernel (fresh cache): {build_seconds():.2f} s")
    data = make_dataset()
    print(
        "\n| K | optimizer step, torch calls (ms) | fused (ms) | ratio "
        f"| chunk of {args.epochs} epochs, torch calls (ms) | fused (ms) | ratio "
        "| curve difference |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in args.k:
        group = configs(k, args.epochs)
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
            f"| {k} | {s0:.3f} | {s1:.3f} | {s0 / s1:.2f}x | {c0:.0f} | {c1:.0f} "
            f"| {c0 / c1:.2f}x | {difference} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
