"""Each way of computing a stacked linear layer, timed on the engine's own buffers.

For the exercise's network (4-50-50-1) at batch size 16 (and the epoch's last batch of 12
rows, and the 300-row validation set), K configs: every candidate of
``_linear_candidates`` (see :mod:`optiscope.engine._stacked_net`), timed in one process
(medians of repeated runs: on a busy machine the ratios are the result), and the one the
exactness probe picks. ``baddbmm`` into a buffer with gaps between its slices (on AVX-512 the
output layer's ``(K, 16, 1)``) runs one product per config; the candidates that write a
contiguous scratch buffer avoid that where they are exact.

Usage::

    .venv/bin/python benchmarks/bench_layers.py
    .venv/bin/python benchmarks/bench_layers.py --k 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from optiscope.engine._exact import Operand, choose
from optiscope.engine._stacked_net import _linear_candidates, aligned_stack

SHAPES = [  # (rows, in, out): train layers, the last batch, the validation set
    (16, 4, 50),
    (16, 50, 50),
    (16, 50, 1),
    (12, 50, 1),
    (300, 4, 50),
    (300, 50, 50),
    (300, 50, 1),
]


def median_us(call: Callable[[], object], inner: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        times.append((time.perf_counter() - start) / inner)
    return 1e6 * statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 64, 256])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), 1 thread, "
        f"load average {load:.1f}; microseconds per call, medians of {args.repeats}"
    )
    print("| K | rows x in -> out | buffer | probe picks | " + "candidate: us |")
    print("|---:|---|---|---|---|")
    for k in args.k:
        for rows, fan_in, fan_out in SHAPES:
            out = aligned_stack(k, (rows, fan_out), device)
            z = aligned_stack(k, (rows, fan_in), device).normal_()
            weight, bias = torch.randn(k, fan_out, fan_in), torch.randn(k, fan_out)
            candidates = _linear_candidates(out)
            picked = choose(
                ("bench_linear", k, rows, fan_in, fan_out),
                candidates,
                lambda t: torch.addmm(t[2], t[0], t[1].t()),
                [Operand(z), Operand(weight.clone()), Operand(bias.clone())],
                out,
            )
            z.normal_()
            inner = max(1, 20_000 // (k * rows))
            timed = {
                c.name: median_us(c.bind([z, weight, bias], out), inner, args.repeats)
                for c in candidates
            }
            layout = "contiguous" if out.is_contiguous() else "gapped"
            cells = ", ".join(f"{name} {us:.0f}" for name, us in timed.items())
            print(
                f"| {k} | {rows} x {fan_in} -> {fan_out} | {layout} | {picked.name} | {cells} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
