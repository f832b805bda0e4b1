"""What per-epoch checkpoints cost a sweep: the same sweep with and without them, one process.

Workload: DESIGN.md's (friedman3 n=1000, 700/300 split, MLP 4-50-50-1 ReLU, AdamW, batch size
16, 30 epochs), a grid of lr x weight_decay (8 x 8 = 64 configs: one lockstep group), trained
in this process (``workers=1``) into a fresh store file each time. Three variants, interleaved
and repeated, the median reported:

- ``off``: ``checkpoints=None`` (no checkpoint taken);
- ``default``: the default :class:`optiscope.engine.CheckpointPolicy` (at most ~2% of
  training time);
- ``every epoch``: :data:`optiscope.engine.EVERY_EPOCH` (whatever it costs).

Reported: seconds per sweep, the ratio to ``off``, checkpoint batches written, bytes per
config checkpoint, the mean seconds one batch took to commit (sqlite WAL,
``synchronous=FULL``), and the share of the sweep's time spent taking checkpoints (copying,
encoding and committing them, as the engines' checkpoint clock measures it: on a busy shared
machine the ratio is noisy, this share is not).

Usage::

    .venv/bin/python benchmarks/bench_checkpoint.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_checkpoint.py --repeats 1 --epochs 5   # a smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from optiscope.engine import EVERY_EPOCH, CheckpointPolicy
from optiscope.engine._checkpoint import CheckpointClock
from optiscope.storage import SavedCheckpoint, SqliteStore
from optiscope.sweeps import SweepSpec, run_sweep


class _Counting(SqliteStore):
    """A store that counts and times its checkpoint writes."""

    batches = 0
    seconds = 0.0
    size = 0
    count = 0

    def put_checkpoints(self, checkpoints: Sequence[SavedCheckpoint]) -> int:
        started = time.perf_counter()
        stored = super().put_checkpoints(checkpoints)
        _Counting.seconds += time.perf_counter() - started
        _Counting.batches += 1
        _Counting.count += len(checkpoints)
        _Counting.size += sum(len(c.data) for c in checkpoints)
        return stored


_TAKING = [0.0]  # seconds the engines spent taking checkpoints (copy, encode, store)
_taken = CheckpointClock.taken


def _counted(self: CheckpointClock, started: float) -> None:
    _taken(self, started)
    _TAKING[0] += self.cost


CheckpointClock.taken = _counted  # type: ignore[method-assign]


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    values = [10.0**-e for e in (1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5)]
    spec = SweepSpec(
        grid={"lr": values[:8], "weight_decay": [0.0, *values[1:8]]},
        fixed={"epochs": args.epochs, "n": 1000, "hidden": (50, 50), "batch_size": 16},
    )
    variants: dict[str, CheckpointPolicy | None] = {
        "off": None,
        "default": CheckpointPolicy(),
        "every epoch": EVERY_EPOCH,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    written: dict[str, tuple[int, float, float]] = {}
    taking: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        run_sweep(spec, store=Path(folder) / "warm.sqlite", workers=1)  # probes, data cache
        for repeat in range(args.repeats):
            for name, policy in variants.items():
                _Counting.batches, _Counting.seconds, _Counting.size, _Counting.count = 0, 0, 0, 0
                _TAKING[0] = 0.0
                with _Counting(Path(folder) / f"{repeat}-{name}.sqlite") as store:
                    started = time.perf_counter()
                    run_sweep(spec, store=store, workers=1, checkpoints=policy)
                    times[name].append(time.perf_counter() - started)
                per_config = _Counting.size / max(_Counting.count, 1)
                per_batch = _Counting.seconds / max(_Counting.batches, 1)
                written[name] = (_Counting.batches, per_config, per_batch)
                taking[name].append(_TAKING[0] / times[name][-1])
    base = statistics.median(times["off"])
    print(f"CPU: {_cpu()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{spec.size} configs, {args.epochs} epochs, median of {args.repeats}")
    print(f"{'variant':<12} {'seconds':>8} {'ratio':>7} {'batches':>8} {'KB/config':>10} "
          f"{'ms/batch':>9} {'in checkpoints':>14}")  # fmt: skip
    for name in variants:
        median = statistics.median(times[name])
        batches, size, per_batch = written[name]
        print(f"{name:<12} {median:8.2f} {median / base:7.3f} {batches:8d} "
              f"{size / 1024:10.1f} {per_batch * 1000:9.1f} "
              f"{statistics.median(taking[name]):14.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
