"""Ray against the local process pool on this machine, and what planning a huge sweep costs.

Workload: the grid of ``bench_gpu.py`` (lr x weight_decay x beta1 x beta2, 4 values each: 256
configs; 4,096 configs are 16 seeds of it), DESIGN.md's network and data (friedman3 n=1000,
MLP 4-50-50-1, AdamW, batch size 16). Both backends train the same tasks
(:func:`optiscope.sweeps.plan_tasks` for as many workers as CPUs) in this process's turn:

- ``pool``: :class:`ProcessPoolBackend` (this process and CPUs - 1 warm workers);
- ``ray``: :class:`RayBackend` on a Ray started here with as many CPUs.

Start-up is timed apart from the runs: the pool's workers importing torch
(:func:`start_pool`); Ray starting (``ray.init``) plus one warm-up task per CPU (its workers
import torch). Each grid is then run ``--repeats`` times per backend, interleaved, and the
median reported with the ratio ray / pool; the records of the two must be equal (max
difference 0.0), or the benchmark fails.

Also reported: the overhead of one Ray task (empty tasks, submitted together), the seconds of
one config on one core (from the largest grid), and for a 100,000-config plan (grid x 391
seeds, never trained): its task count and the driver's peak memory to build and plan it
(tracemalloc), with the process's RSS; and the seconds the driver takes to commit one record
to a store file. ``docs/cluster.md`` turns these into an estimate for
10^6 configs on N nodes.

Usage::

    .venv/bin/python benchmarks/bench_ray.py                  # a few minutes on 2 cores
    .venv/bin/python benchmarks/bench_ray.py --sizes 256 --repeats 1 --epochs 3  # smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench_gpu import grid_configs  # the same grid (benchmarks/ is on sys.path when run)
from optiscope.records import RunConfig, RunRecord
from optiscope.storage import SqliteStore
from optiscope.sweeps import (
    ProcessPoolBackend,
    RayBackend,
    plan_tasks,
    run_configs,
    start_pool,
    stop_pool,
    stop_ray,
)
from optiscope.sweeps._pool import available_cpus


def _timed(backend: Any, configs: list[RunConfig], cpus: int) -> tuple[float, list[RunRecord]]:
    started = time.perf_counter()
    records = run_configs(configs, backend=backend, workers=cpus, validate=False)
    return time.perf_counter() - started, records


def _same(a: list[RunRecord], b: list[RunRecord]) -> bool:
    return all(
        x.config == y.config
        and x.status == y.status
        and repr(x.curve.valid_loss) == repr(y.curve.valid_loss)
        and repr(x.curve.train_loss) == repr(y.curve.train_loss)
        for x, y in zip(a, b, strict=True)
    )


def _task_overhead(count: int = 400) -> float:
    """Seconds per empty Ray task, ``count`` submitted at once and gathered."""
    import ray

    @ray.remote(num_cpus=1)
    def empty() -> None:
        return None

    ray.get([empty.remote() for _ in range(2 * available_cpus())])  # warm workers
    started = time.perf_counter()
    ray.get([empty.remote() for _ in range(count)])
    return (time.perf_counter() - started) / count


def _commit_seconds(records: list[RunRecord]) -> float:
    """Seconds the driver takes to commit one record to a store file (one transaction each,
    as a sweep does): the part of a sweep no cluster makes faster."""
    with tempfile.TemporaryDirectory() as folder, SqliteStore(Path(folder) / "s.sqlite") as store:
        started = time.perf_counter()
        for record in records:
            store.put_record(record)
        return (time.perf_counter() - started) / len(records)


def _plan_only(count: int, cpus: int) -> dict[str, float]:
    """Build and plan ``count`` configs without training: task count, time, peak memory."""
    import psutil

    tracemalloc.start()
    started = time.perf_counter()
    configs = grid_configs(count, epochs=30)
    tasks = plan_tasks(configs, engine="vectorized", workers=cpus)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "configs": len(configs),
        "tasks": len(tasks),
        "largest": max(len(t.configs) for t in tasks),
        "seconds": seconds,
        "peak_mib": peak / 2**20,
        "rss_mib": psutil.Process().memory_info().rss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,4096", help="grid sizes, comma-separated")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the 256 grid")
    parser.add_argument("--epochs-large", type=int, default=5, help="epochs of larger grids")
    parser.add_argument("--repeats", type=int, default=3, help="runs per backend and size")
    parser.add_argument("--plan", type=int, default=100_000, help="configs planned, not run")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    cpus = available_cpus()
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, {cpus} CPUs, python {sys.version.split()[0]}")

    started = time.perf_counter()
    start_pool(cpus)
    pool_start = time.perf_counter() - started
    folder = tempfile.mkdtemp(prefix="ray-bench-", dir="/tmp")
    ray_backend = RayBackend(cpus=cpus, temp_dir=folder)
    started = time.perf_counter()
    # ray.init, then one task per CPU at once (batch sizes differ: one task each), so that
    # every worker has imported torch
    warm = [RunConfig(epochs=1, batch_size=16 + 8 * i) for i in range(cpus)]
    run_configs(warm, backend=ray_backend, workers=cpus)
    ray_start = time.perf_counter() - started
    overhead = _task_overhead()
    print(f"start-up: pool {pool_start:.1f} s, ray {ray_start:.1f} s (not in the times below)")
    print(f"one empty Ray task: {overhead * 1e3:.2f} ms (submitted together)\n")

    rows: list[dict[str, Any]] = []
    print("| configs | epochs | tasks | pool s | ray s | ray / pool | same numbers |")
    print("|---:|---:|---:|---:|---:|---:|:---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        epochs = args.epochs if size <= 256 else args.epochs_large
        configs = grid_configs(size, epochs)
        tasks = len(plan_tasks(configs, engine="vectorized", workers=cpus))
        times: dict[str, list[float]] = {"pool": [], "ray": []}
        same = True
        for _ in range(args.repeats):
            pool_seconds, pool_records = _timed(ProcessPoolBackend(cpus), configs, cpus)
            ray_seconds, ray_records = _timed(ray_backend, configs, cpus)
            times["pool"].append(pool_seconds)
            times["ray"].append(ray_seconds)
            same = same and _same(pool_records, ray_records)
        pool, ray = statistics.median(times["pool"]), statistics.median(times["ray"])
        commit = _commit_seconds(ray_records[:200])
        row = {"configs": size, "epochs": epochs, "tasks": tasks, "pool_s": pool, "ray_s": ray}
        row.update(ratio=ray / pool, same=same, per_config_core_s=ray * cpus / size * 30 / epochs)
        row.update(commit_s=commit)
        rows.append(row)
        print(
            f"| {size:,} | {epochs} | {tasks} | {pool:.2f} | {ray:.2f} | {ray / pool:.2f}x "
            f"| {'yes' if same else 'NO'} |"
        )
        if not same:
            raise SystemExit("the backends gave different numbers")
    stop_ray()
    stop_pool()
    shutil.rmtree(folder, ignore_errors=True)

    planned = _plan_only(args.plan, cpus)
    print(
        f"\n{planned['configs']:,} configs planned (not trained) for {cpus} CPUs: "
        f"{planned['tasks']:,} tasks of up to {planned['largest']} configs in "
        f"{planned['seconds']:.1f} s; driver peak {planned['peak_mib']:.0f} MiB (tracemalloc), "
        f"RSS {planned['rss_mib']:.0f} MiB"
    )
    per_config = rows[-1]["per_config_core_s"] if rows else float("nan")
    print(f"one config, 30 epochs, on one core (from the largest grid, on Ray): {per_config:.3f} s")
    if rows:
        first = rows[0]
        print(
            f"one record ({first['epochs']} epochs) committed in {first['commit_s'] * 1e3:.1f} ms"
        )
    if args.json:
        summary = {"cpus": cpus, "pool_start_s": pool_start, "ray_start_s": ray_start}
        summary.update(task_overhead_s=overhead, rows=rows, plan=planned)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
