"""The exercise's literal training loop against optiscope, in one process and one run.

Workloads (the exercise's settings: friedman3 n=1000 sd=0.1, 700/300 split, MLP 4-50-50-1,
AdamW lr=0.01 betas=(0.9, 0.999) weight_decay=0.01, batch size 16, 30 epochs, seed 123, data
order, the exercise's mean-of-batch-RMSE metric):

- the lr sweep (4 configs), the batch-size sweep (6), all five sweeps (24 configs, the default
  config four times over, as the exercise runs it);
- a 256-config grid: lr x weight_decay x beta1 x beta2, 4 values each.

The literal loop is the exercise's code (DataLoader + ``nn.Sequential`` + ``torch.optim.AdamW``,
one config after another), timed for every config of the five sweeps, twice: with torch's
default intra-op threads (as a user runs it) and with one thread (on small, busy machines
often faster); speedups are against the faster of the two, per config. For the grid it is
timed on a sample of its configs (every grid config does the same work: same batch size and
epochs) and scaled to 256. Each workload's literal configs are timed just before optiscope
runs that workload (those timed for an earlier workload are reused): the host's speed drifts
over minutes, and both sides of a ratio should see the same machine. optiscope runs each
workload twice through ``run_configs`` (its default, the vectorized engine with an automatic
choice of backend): the first call pays for starting
worker processes if it uses them, the second finds them warm. The first workload's first call
also pays for asking the machine which kernels are exact, unless an earlier process on this
machine kept the answers (``optim/_facts.py``, as any optiscope command would find them): the
header says which; ``--ask-afresh`` makes it ask, as on a machine where optiscope never ran.

Reported per workload: milliseconds per config, the speedup, the largest difference between
the two engines' validation curves, and the fraction of the machine's FLOP limit used (the
limit measured here as the sgemm rate of a large square product with all threads).

Competitors on the grid (``benchmarks/competitors.py``): the literal loop in two processes
(its grid sample split in two), eager ``torch.func`` vmap with a stacked AdamW, and with
``--compiled`` the same under ``torch.compile`` in two processes (compiling takes 10-25 s per
process). Then issue 14's targets, each printed as met or not met, with the heatmap's from
``benchmarks/bench_heatmap.py``. Every speedup assumes both cores are free.

Usage::

    .venv/bin/python benchmarks/bench_engine.py            # about two minutes on 2 cores
    .venv/bin/python benchmarks/bench_engine.py --json out.json --compiled   # about 2 minutes
    .venv/bin/python benchmarks/bench_engine.py --quick    # a smoke run: 2 epochs, 16 configs
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import bench_heatmap
import competitors
from optiscope.data import Dataset, make_dataset
from optiscope.optim import _facts
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


def grid(per_axis: int = 4) -> list[dict[str, float]]:
    """The grid: ``per_axis`` values of each of its four settings (4: 256 configs)."""
    names = list(GRID)
    return [
        {**DEFAULTS, **dict(zip(names, values, strict=True))}
        for values in itertools.product(*(v[:per_axis] for v in GRID.values()))
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


def cpu_name() -> str:
    """The CPU's model name and widest vector extension, from /proc/cpuinfo (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line and line.strip())
    name = fields.get("model name\t", platform.machine()).strip()
    flags = fields.get("flags\t\t", "").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name} ({vector})"


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
    literal_ms: float  # per config, the faster of the two thread settings
    literal_default_ms: float  # per config, torch's default threads
    optiscope_cold_ms: float
    optiscope_warm_ms: float
    speedup_cold: float
    speedup_warm: float
    speedup_warm_default_threads: float
    max_curve_difference: float
    flop_fraction: float
    literal_measured: int


@dataclass
class Literal:
    """One config through the literal loop, with torch's default threads and with one."""

    default_seconds: float
    one_thread_seconds: float
    curve: list[float]

    @property
    def seconds(self) -> float:
        if math.isnan(self.default_seconds):  # not timed (--literal-one-thread)
            return self.one_thread_seconds
        return min(self.default_seconds, self.one_thread_seconds)


def time_literal(
    settings: dict[str, float], data: Dataset, threads: int, *, default_too: bool = True
) -> Literal:
    """One config through the literal loop with one thread, and first with torch's default
    threads unless ``default_too`` is false (that time is then NaN)."""
    times = [] if default_too else [math.nan]
    curve: list[float] = []
    for n in (threads, 1) if default_too else (1,):
        torch.set_num_threads(n)
        start = time.perf_counter()
        curve = literal_train_valid(settings, data)
        times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return Literal(times[0], times[1], curve)


def _run_optiscope(configs: Sequence[RunConfig], data: Dataset) -> tuple[float, list]:
    start = time.perf_counter()
    records = run_configs(configs, data=data)
    return time.perf_counter() - start, records


def main(argv: Sequence[str] | None = None) -> int:
    global EPOCHS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid-sample", type=int, default=8, help="literal runs for the grid")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per config")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 epochs, a 16-config grid"
    )
    parser.add_argument(
        "--compiled", action="store_true", help="also time torch.compile'd vmap (slow to compile)"
    )
    parser.add_argument(
        "--literal-one-thread",
        action="store_true",
        help="time the literal loop with one thread only (on a busy machine torch's default "
        "threads are far slower, and the speedups use the faster of the two anyway)",
    )
    parser.add_argument(
        "--ask-afresh",
        action="store_true",
        help="do not read the exactness answers earlier processes kept on this machine (nor "
        "keep new ones): the first call asks, as on a machine where optiscope never ran",
    )
    args = parser.parse_args(argv)
    if args.ask_afresh:
        os.environ[_facts.ENV] = "off"  # (read at the first call: nothing has asked yet)
    kept = kept_answers()
    EPOCHS = 2 if args.quick else args.epochs
    per_axis, grid_sample = (2, 2) if args.quick else (4, args.grid_sample)

    data = make_dataset()
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # imports torch._dynamo (seconds)
    peak = sgemm_gflops()
    threads = torch.get_num_threads()
    print(
        f"# {cpu_name()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}; literal loop timed with "
        + ("1 thread" if args.literal_one_thread else f"{threads} threads (default) and 1")
    )
    print(f"# sgemm (2048^3, {threads} threads): {peak:.0f} GFLOP/s = the FLOP limit below")
    print(f"# exactness answers for the first call: {kept}")

    # Each workload's literal configs are timed right before optiscope runs it: the host's
    # speed drifts over minutes, and a ratio should compare the two in the same conditions.
    sweeps = five_sweeps()
    literal: dict[str, list[Literal]] = {}

    def literal_sweeps(*names: str) -> list[Literal]:
        for name in names:
            if name in literal:
                continue
            literal[name] = [
                time_literal(s, data, threads, default_too=not args.literal_one_thread)
                for s in sweeps[name]
            ]
            print(
                f"# literal {name} sweep: {sum(r.default_seconds for r in literal[name]):.1f} s "
                f"({threads} threads), {sum(r.one_thread_seconds for r in literal[name]):.1f} s "
                "(1 thread)",
                flush=True,
            )
        return [r for name in names for r in literal[name]]

    grid_settings = grid(per_axis)
    sample = random.Random(0).sample(range(len(grid_settings)), grid_sample)

    def literal_grid() -> list[Literal | None]:
        timed = {
            i: time_literal(
                grid_settings[i], data, threads, default_too=not args.literal_one_thread
            )
            for i in sample
        }
        print(f"# literal grid sample of {len(sample)} configs done", flush=True)
        return [timed.get(i) for i in range(len(grid_settings))]

    workloads: dict[str, tuple[list[dict[str, float]], Callable[[], list[Literal | None]]]] = {
        "lr sweep": (sweeps["lr"], lambda: list(literal_sweeps("lr"))),
        "batch-size sweep": (sweeps["batch_size"], lambda: list(literal_sweeps("batch_size"))),
        "five sweeps": (
            [s for name in SWEEPS for s in sweeps[name]],
            lambda: list(literal_sweeps(*SWEEPS)),
        ),
        f"{len(grid_settings)}-config grid": (grid_settings, literal_grid),
    }
    rows = []
    for name, (settings_list, time_the_literal_loop) in workloads.items():
        measured = time_the_literal_loop()
        configs = [_config(s) for s in settings_list]
        cold, records = _run_optiscope(configs, data)
        warm, records = _run_optiscope(configs, data)
        timed = [r for r in measured if r is not None]
        scale = len(configs) / len(timed)  # the grid: a sample stands for all (same work)
        difference = max(
            _curve_difference(r.curve, record.curve.valid_loss)
            for r, record in zip(measured, records, strict=True)
            if r is not None
        )
        rows.append(
            _row(
                name,
                len(configs),
                scale * sum(r.seconds for r in timed),
                scale * sum(r.default_seconds for r in timed),
                cold,
                warm,
                difference,
                sum(flops_per_config(s, data) for s in settings_list),
                peak,
                len(timed),
            )
        )
        print(f"# {name}: done", flush=True)

    print()
    print(
        "| workload | configs | literal loop, ms/config | optiscope, ms/config (first call "
        "/ again) | speedup (first / again) | max curve difference | FLOP limit used |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.workload} | {r.configs} | {r.literal_ms:.0f} | {r.optiscope_cold_ms:.1f} / "
            f"{r.optiscope_warm_ms:.1f} | {r.speedup_cold:.1f}x / {r.speedup_warm:.1f}x | "
            f"{r.max_curve_difference:.1g} | {100 * r.flop_fraction:.2f}% |"
        )
    if args.literal_one_thread:
        print("\nLiteral loop: one thread (--literal-one-thread).")
    else:
        print(
            "\nLiteral loop: the faster of torch's default threads and 1 thread, per config. "
            "Against the default threads alone the speedups (again) are: "
            + ", ".join(f"{r.workload} {r.speedup_warm_default_threads:.1f}x" for r in rows)
        )
    grid_row = rows[-1]
    grid_records = _run_optiscope([_config(s) for s in grid_settings], data)[1]
    exact = [r.curve.valid_loss for r in grid_records]
    rivals = measure_competitors(grid_settings, sample, exact, args.compiled)
    print()
    print(
        f"| {len(grid_settings)}-config grid | ms/config | optiscope is faster by | max curve "
        "difference |"
    )
    print("|---|---:|---:|---:|")
    print(
        f"| literal loop, 1 process | {grid_row.literal_ms:.0f} | "
        f"{grid_row.speedup_warm:.1f}x | 0 |"
    )
    for rival in rivals:
        print(
            f"| {rival.name} | {rival.ms:.1f} | {rival.ms / grid_row.optiscope_warm_ms:.1f}x | "
            f"{rival.difference:.3g} |"
        )
    print(
        f"| optiscope (first call / again) | {grid_row.optiscope_cold_ms:.1f} / "
        f"{grid_row.optiscope_warm_ms:.1f} | | {grid_row.max_curve_difference:.1g} |"
    )
    heatmap = bench_heatmap.measure(*((16, 100, 1) if args.quick else (64, 1000, 3)))
    targets = issue_targets(rows, rivals, heatmap, kept)
    print()
    for target, (value, met) in targets.items():
        print(f"target {target}: {value}: {met}")
    if args.json:
        with open(args.json, "w") as f:
            summary = {
                "cpu": cpu_name(),
                "sgemm_gflops": peak,
                "threads": threads,
                "answers_for_the_first_call": kept,
                "rows": [asdict(r) for r in rows],
                "competitors": [asdict(r) for r in rivals],
                "heatmap": asdict(heatmap),
                "targets": {k: {"value": v, "met": m} for k, (v, m) in targets.items()},
            }
            json.dump(summary, f, indent=2)
    return 0


@dataclass
class Rival:
    name: str
    ms: float  # per config
    difference: float  # largest validation-curve difference from the exact engine


def measure_competitors(
    grid_settings: list[dict[str, float]],
    sample: list[int],
    exact: list[Sequence[float]],
    compiled: bool,
) -> list[Rival]:
    """The grid's other ways to train (see benchmarks/competitors.py), timed here; the
    literal loop on the grid sample's configs (``sample``: their indices)."""
    rivals = []
    with competitors.two_process_pool() as pool:
        seconds, curves = competitors.in_two_processes(
            pool, competitors.literal_configs, [grid_settings[i] for i in sample], EPOCHS
        )
        difference = _largest_difference(curves, [exact[i] for i in sample])
        rivals.append(Rival("literal loop, 2 processes", 1e3 * seconds / len(sample), difference))
        print("# literal loop in 2 processes: done", flush=True)
        seconds, curves = competitors.vmap_configs(grid_settings, EPOCHS)
        rivals.append(
            Rival(
                "eager torch.func vmap + stacked AdamW, 1 process",
                1e3 * seconds / len(grid_settings),
                _largest_difference(curves, exact),
            )
        )
        print("# eager vmap: done", flush=True)
        if compiled:
            first, _ = competitors.in_two_processes(
                pool, competitors.vmap_configs, grid_settings, EPOCHS, True
            )
            seconds, curves = competitors.in_two_processes(
                pool, competitors.vmap_configs, grid_settings, EPOCHS, True
            )
            difference = _largest_difference(curves, exact)
            n = len(grid_settings)
            rivals.append(
                Rival("compiled vmap, 2 processes (compiled)", 1e3 * seconds / n, difference)
            )
            rivals.append(
                Rival("compiled vmap, 2 processes (compiling)", 1e3 * first / n, difference)
            )
            print("# compiled vmap: done", flush=True)
    return rivals


def _largest_difference(curves: list[list[float]], exact: list[Sequence[float]]) -> float:
    return max(_curve_difference(ours, theirs) for ours, theirs in zip(exact, curves, strict=True))


def kept_answers() -> str:
    """What the first call will find of the exactness answers earlier processes kept."""
    facts = _facts.machine_facts()
    if facts is None:
        return "asked afresh (not read from disk)"
    exact, kernels = facts.answers("exact"), facts.answers("kernels")
    return f"kept: {len(exact)} probe answers, {len(kernels)} kernel check(s) ({facts.path})"


def issue_targets(
    rows: list[Row], rivals: list[Rival], heatmap: bench_heatmap.Result, kept: str
) -> dict[str, tuple[str, str]]:
    """Issue 14's targets: ``{target: (measured, "met" / "not met" / why not measured)}``;
    ``kept``: what the first call found of the kept exactness answers."""
    by_name = {r.workload.split()[0]: r for r in rows}
    grid_row = rows[-1]

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    compiled = [r for r in rivals if r.name == "compiled vmap, 2 processes (compiled)"]
    exact = all(r.max_curve_difference == 0 for r in rows)
    return {
        "curves identical to the literal loop (max difference 0)": (
            f"{max(r.max_curve_difference for r in rows):g}",
            verdict(exact),
        ),
        f"{grid_row.configs}-config grid >= 60x the literal loop (again)": (
            f"{grid_row.speedup_warm:.1f}x (first call {grid_row.speedup_cold:.1f}x)",
            verdict(grid_row.speedup_warm >= 60),
        ),
        "grid faster than compiled vmap in 2 processes": (
            f"{grid_row.optiscope_warm_ms:.1f} vs {compiled[0].ms:.1f} ms/config"
            if compiled
            else "not measured (run with --compiled)",
            verdict(grid_row.optiscope_warm_ms < compiled[0].ms) if compiled else "-",
        ),
        "batch-size sweep >= 12x on the first call": (
            f"{by_name['batch-size'].speedup_cold:.1f}x",
            verdict(by_name["batch-size"].speedup_cold >= 12),
        ),
        "lr sweep >= 12x on the first call": (
            f"{by_name['lr'].speedup_cold:.1f}x (exactness answers: {kept.split(' (')[0]})",
            verdict(by_name["lr"].speedup_cold >= 12),
        ),
        f"heatmap {heatmap.side}x{heatmap.side}x{heatmap.steps} < 0.25 s warm": (
            f"{heatmap.optiscope_warm_s:.3f} s",
            verdict(heatmap.optiscope_warm_s < bench_heatmap.TARGET_SECONDS),
        ),
        "heatmap within 2x of a hand-vectorized loop": (
            f"{heatmap.ratio:.2f}x ({heatmap.hand_s:.3f} s by hand)",
            verdict(heatmap.ratio <= bench_heatmap.TARGET_RATIO),
        ),
    }


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
    literal_default_seconds: float,
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
        literal_default_ms=1e3 * literal_default_seconds / configs,
        optiscope_cold_ms=1e3 * cold / configs,
        optiscope_warm_ms=1e3 * warm / configs,
        speedup_cold=literal_seconds / cold,
        speedup_warm=literal_seconds / warm,
        speedup_warm_default_threads=literal_default_seconds / warm,
        max_curve_difference=difference,
        flop_fraction=flops / warm / (peak * 1e9),
        literal_measured=measured,
    )


if __name__ == "__main__":
    sys.exit(main())
