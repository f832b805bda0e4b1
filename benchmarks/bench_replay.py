"""Training steps replayed from C++ (``engine/_replay.py``) against the same Python calls,
in one process.

For the exercise's network and data (4-50-50-1 ReLU, friedman3 n=1000, AdamW, 30 epochs by
default), K configs at one batch size are trained by the vectorized engine in this process
(one intra-op thread), with replay and with ``OPTISCOPE_REPLAY=off``, alternating
``--repeats`` times; the table gives the medians, the ratio, and the per-step time of the
training plan alone (forward, loss, backward: what replay replaces). The curves of the two
paths must be equal (difference 0.0).

Usage::

    .venv/bin/python benchmarks/bench_replay.py             # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_replay.py --cases 1x2 4x16 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine import cpu_name
from optiscope.data import make_dataset
from optiscope.engine import _replay
from optiscope.engine._vectorized import VectorizedTrainer, _Nets
from optiscope.records import RunConfig

LRS = (1.0, 0.1, 0.01, 0.001)


def _configs(k: int, batch_size: int, epochs: int) -> list[RunConfig]:
    return [
        RunConfig(
            hparams={"lr": LRS[i % 4], "weight_decay": 0.01 * (1 + i // 4)},
            batch_size=batch_size,
            epochs=epochs,
            seed=123,
            metric="batch_rmse",
        )
        for i in range(k)
    ]


def _replay_on(on: bool) -> None:
    os.environ[_replay.ENV] = "on" if on else "off"
    _replay.library.cache_clear()


def _train(configs: list[RunConfig], data: object) -> tuple[float, list[list[float]]]:
    start = time.perf_counter()
    records = VectorizedTrainer(configs, data).run()  # type: ignore[arg-type]
    return time.perf_counter() - start, [list(r.curve.valid_loss) for r in records]


def _plan_us(configs: list[RunConfig], data: object) -> float:
    """One training plan's run (the first batch's), per step, best of 5."""
    captured: list = []
    original = _Nets.plans

    def plans(self: _Nets, *args: object, **kwargs: object) -> list:
        made = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if kwargs.get("train"):
            captured.extend(made)
        return made

    _Nets.plans = plans  # type: ignore[method-assign]
    try:
        trainer = VectorizedTrainer([c.replace(epochs=1) for c in configs], data)  # type: ignore[arg-type]
        trainer.run()
    finally:
        _Nets.plans = original  # type: ignore[method-assign]
    step = captured[0]
    return min(timeit.repeat(step, number=500, repeat=5)) / 500 * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", nargs="+", default=["1x2", "1x16", "4x16", "64x16"], help="KxBATCH"
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = make_dataset()
    _replay_on(True)
    if _replay.library() is None:
        print(f"no replay library: {_replay.unavailable_reason()}")
        return 1
    print(f"# {cpu_name()}, torch {torch.__version__}, one intra-op thread, {args.epochs} epochs")
    print(
        "| K x batch size | Python calls, ms | replayed, ms | speedup | plan per step, us "
        "(Python / replayed) | curve difference |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for case in args.cases:
        k, batch_size = (int(v) for v in case.split("x"))
        configs = _configs(k, batch_size, args.epochs)
        times: dict[bool, list[float]] = {True: [], False: []}
        curves: dict[bool, list[list[float]]] = {}
        for _ in range(args.repeats):
            for on in (False, True):
                _replay_on(on)
                seconds, curves[on] = _train(configs, data)
                times[on].append(seconds)
        plan_us = {}
        for on in (False, True):
            _replay_on(on)
            plan_us[on] = _plan_us(configs, data)
        difference = max(
            abs(a - b)
            for ours, plain in zip(curves[True], curves[False], strict=True)
            for a, b in zip(ours, plain, strict=True)
        )
        python, replayed = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"| {k} x {batch_size} | {1e3 * python:.0f} | {1e3 * replayed:.0f} | "
            f"{python / replayed:.2f}x | {plan_us[False]:.1f} / {plan_us[True]:.1f} | "
            f"{difference:.1g} |",
            flush=True,
        )
    _replay_on(True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
