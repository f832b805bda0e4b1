"""A 64 x 64 sensitivity map of 1,000 steps against the loop a user would write by hand.

The hand-vectorized loop (the baseline, run in the same process): positions as one ``(C, 2)``
tensor, the gradient of ``f(x, y).sum()`` by autograd, the exercise's momentum with ``(C, 1)``
columns of ``lr``, ``beta`` and ``1 - beta``; nothing else (no divergence or tolerance
bookkeeping, no checks). optiscope's ``sensitivity_map`` does the same steps and also finds
each cell's divergence and tolerance steps, checks every cell first, and builds the result.
Both give the same final positions, bit for bit (checked here).

Target (issue 14): within 2x of the hand loop, and under 0.25 s warm.

Usage::

    .venv/bin/python benchmarks/bench_heatmap.py            # about 10 s on 2 cores
    .venv/bin/python benchmarks/bench_heatmap.py --repeats 1 --side 16 --steps 100   # smoke
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from optiscope import sensitivity_map
from optiscope.landscapes import get_landscape

FUNCTION = "rosenbrock a=1 b=2"  # the exercise's Rosenbrock
TARGET_SECONDS = 0.25
TARGET_RATIO = 2.0


def axes(side: int) -> tuple[list[float], list[float]]:
    """The map's axes: lr (x, log) and beta (y)."""
    return np.geomspace(1e-3, 0.3, side).tolist(), np.linspace(0.0, 0.99, side).tolist()


def hand_loop(lrs: Sequence[float], betas: Sequence[float], steps: int) -> torch.Tensor:
    """The baseline: the map's cells (rows follow beta, columns lr) as one ``(C, 2)`` tensor."""
    f = get_landscape("rosenbrock", b=2)
    lr = torch.tensor(lrs).repeat(len(betas))[:, None]  # (C, 1), x inner
    beta = torch.tensor(betas).repeat_interleave(len(lrs))[:, None]  # (C, 1)
    one_minus = torch.tensor([1 - b for b in betas]).repeat_interleave(len(lrs))[:, None]
    P = torch.tensor(f.start).repeat(len(lrs) * len(betas), 1)  # (C, 2)
    v = torch.zeros_like(P)
    for _ in range(steps):
        Q = P.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(Q[:, 0], Q[:, 1]).sum(), Q)  # (C, 2)
        with torch.no_grad():
            v.mul_(beta).addcmul_(g, one_minus)  # v = beta v + (1 - beta) g
            P.addcmul_(v, -lr)  # p -= lr v
    return P


@dataclass
class Result:
    side: int
    steps: int
    optiscope_first_s: float
    optiscope_warm_s: float  # best of the warm calls
    hand_s: float  # best
    ratio: float  # warm optiscope / hand
    max_difference: float  # final positions of cells that did not diverge
    optiscope_median_s: float = math.nan  # median of the warm calls
    hand_median_s: float = math.nan
    optiscope_cpu_s: float = math.nan  # median CPU time of this thread: what load inflates least
    hand_cpu_s: float = math.nan

    @property
    def met(self) -> dict[str, bool]:
        return {
            f"within {TARGET_RATIO:g}x of the hand loop": self.ratio <= TARGET_RATIO,
            f"under {TARGET_SECONDS} s warm": self.optiscope_warm_s < TARGET_SECONDS,
        }


def measure(side: int = 64, steps: int = 1000, repeats: int = 3) -> Result:
    """Time the map and the hand loop, interleaved (the machine's load hits both alike)."""
    torch.set_num_threads(1)  # the map runs on one intra-op thread; so does the baseline
    lrs, betas = axes(side)
    grid = {"lr": lrs, "beta": betas}
    start = time.perf_counter()
    result = sensitivity_map(FUNCTION, "momentum", grid, steps=steps)
    first = time.perf_counter() - start
    warm, hand, warm_cpu, hand_cpu = [], [], [], []
    P = hand_loop(lrs, betas, steps)
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.thread_time()
        result = sensitivity_map(FUNCTION, "momentum", grid, steps=steps)
        warm.append(time.perf_counter() - start)
        warm_cpu.append(time.thread_time() - cpu)
        start, cpu = time.perf_counter(), time.thread_time()
        P = hand_loop(lrs, betas, steps)
        hand.append(time.perf_counter() - start)
        hand_cpu.append(time.thread_time() - cpu)
    ok = ~np.isnan(result.run.final_x)
    ours = np.stack([result.run.final_x, result.run.final_y], 1)[ok]
    theirs = P.double().numpy()[ok]
    difference = float(np.abs(ours - theirs).max()) if ok.any() else 0.0
    return Result(
        side,
        steps,
        first,
        min(warm),
        min(hand),
        min(warm) / min(hand),
        difference,
        optiscope_median_s=statistics.median(warm),
        hand_median_s=statistics.median(hand),
        optiscope_cpu_s=statistics.median(warm_cpu),
        hand_cpu_s=statistics.median(hand_cpu),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=64, help="cells per axis")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--repeats", type=int, default=3, help="warm calls of each (best and median shown)"
    )
    args = parser.parse_args(argv)
    r = measure(args.side, args.steps, args.repeats)
    print(
        f"{r.side}x{r.side} cells x {r.steps} steps: optiscope {r.optiscope_first_s:.3f} s first "
        f"call, {r.optiscope_warm_s:.3f} s warm; hand-vectorized loop {r.hand_s:.3f} s; ratio "
        f"{r.ratio:.2f}x; max difference of final positions {r.max_difference:g}"
    )
    print(
        f"medians of {args.repeats} warm calls: optiscope {r.optiscope_median_s:.3f} s wall, "
        f"{r.optiscope_cpu_s:.3f} s CPU; hand loop {r.hand_median_s:.3f} s wall, "
        f"{r.hand_cpu_s:.3f} s CPU; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    for target, met in r.met.items():
        print(f"target {target}: {'met' if met else 'not met'}")
    return 0 if r.max_difference == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
