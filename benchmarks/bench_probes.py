"""When probing an operation with one number per config repays itself.

The exactness probe (``engine/_exact.py``) compares at least 1,024 numbers before it trusts a
stacked kernel. For an operation that gives one number per config (the MSE and its gradient,
the bias gradient of a 1-unit output layer) that means about a thousand plain calls, however
many configs there are, while the stacked form saves K plain calls a step. This script
measures, for K configs at the exercise's batch of 16 rows: the plain calls (the baseline, one
per config), the stacked form, the probe, and after how many steps the probe has paid; and
prints what :class:`~optiscope.engine._stacked_net.ProbeCost` (whose constants come from here)
predicts. Timings on one intra-op thread, best of 5.

Usage::

    .venv/bin/python benchmarks/bench_probes.py      # a few seconds
"""

from __future__ import annotations

import os
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor

from bench_engine import cpu_name
from optiscope.engine import _exact, _stacked_net
from optiscope.engine._exact import Candidate, Operand, choose, per_model
from optiscope.engine._stacked_net import (
    LOSS_PROBE,
    OUTPUT_BIAS_PROBE,
    ProbeCost,
    aligned_stack,
)

ROWS = 16
CPU = torch.device("cpu")


def _per_call_us(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=2000, repeat=5)) / 2000 * 1e6


def _probe_ms(probes: Sequence[Callable[[], object]]) -> float:
    _exact._CHOSEN.clear()  # every probe from scratch
    start = time.perf_counter()
    for probe in probes:
        probe()
    return (time.perf_counter() - start) * 1e3


def loss(k: int) -> tuple[float, float, float]:
    """The MSE and its gradient for K configs: plain calls and stacked form per step (us),
    and probing both (ms)."""
    out = aligned_stack(k, (ROWS, 1), CPU).normal_()  # (K, rows, 1)
    y = torch.randn(64, 1)[3 : 3 + ROWS].expand(k, ROWS, 1)  # a slice of the data set
    value, grad = torch.empty(k), aligned_stack(k, (ROWS, 1), CPU)
    plain_value = per_model(_stacked_net._single_mse).bind([out, y], value)
    plain_grad = per_model(_stacked_net._single_mse_grad).bind([out, y], grad)

    def plain() -> None:
        plain_value()
        plain_grad()

    stacked = _stacked_net._stacked_mse_and_grad(out, y, value, grad)
    operands = [Operand(out), Operand(y, shared=True)]
    probes = [
        partial(
            choose,
            ("bench", "mse", k),
            [Candidate("stacked", _stacked_net._stacked_mse), per_model(_stacked_net._single_mse)],
            lambda t: _stacked_net._mse_loss(t[0], t[1], 1),
            operands,
            torch.empty(k),
        ),
        partial(
            choose,
            ("bench", "mse_grad", k),
            [
                Candidate("stacked", _stacked_net._stacked_mse_grad),
                per_model(_stacked_net._single_mse_grad),
            ],
            lambda t: torch.ops.aten.mse_loss_backward.default(_stacked_net._ONE, t[0], t[1], 1),
            operands,
            aligned_stack(k, (ROWS, 1), CPU),
        ),
    ]
    return _per_call_us(plain), _per_call_us(stacked), _probe_ms(probes)


def output_bias(k: int) -> tuple[float, float, float]:
    """The bias gradient of a 1-unit layer for K configs (a sum of one column each)."""
    g = aligned_stack(k, (ROWS, 1), CPU).normal_()  # (K, rows, 1)
    out = torch.empty(k, 1)
    candidates = [
        Candidate("stacked", lambda t, o: partial(torch.sum, t[0], 1, out=o)),
        per_model(lambda t, o: partial(torch.sum, t[0], 0, out=o)),
    ]
    plain, stacked = candidates[1].bind([g], out), candidates[0].bind([g], out)

    def single(t: Sequence[Tensor]) -> Tensor:
        return t[0].sum(0)

    probe = partial(choose, ("bench", "bias", k), candidates, single, [Operand(g)], out)
    return _per_call_us(plain), _per_call_us(stacked), _probe_ms([probe])


def _table(
    name: str, measure: Callable[[int], tuple[float, float, float]], cost: ProbeCost
) -> None:
    print(f"\n{name}")
    print(
        "| K | plain calls, us/step | stacked, us/step | stacked / plain | probe, ms | "
        "pays after, steps | ProbeCost predicts: plain, stacked, probe, pays after |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in (1, 2, 4, 8, 16, 64):
        plain, stacked, probe = measure(k)
        saved = plain - stacked
        after = f"{probe * 1e3 / saved:,.0f}" if saved > 0 else "never"
        predicted_plain, predicted_stacked = cost.plain * k, cost.stacked
        predicted_probe = (cost.fixed + cost.trials / k) / 1e3
        predicted_saved = predicted_plain - predicted_stacked
        predicted_after = (
            f"{predicted_probe * 1e3 / predicted_saved:,.0f}" if predicted_saved > 0 else "never"
        )
        print(
            f"| {k} | {plain:.1f} | {stacked:.1f} | {stacked / plain:.2f} | {probe:.1f} | "
            f"{after} | {predicted_plain:.1f}, {predicted_stacked:.1f}, {predicted_probe:.1f}, "
            f"{predicted_after} |"
        )


def main() -> int:
    os.environ["OPTISCOPE_PROBE_CACHE"] = "off"  # every probe timed, none read from disk
    torch.set_num_threads(1)
    print(
        f"# {cpu_name()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}; batches of {ROWS} rows"
    )
    _table("MSE and its gradient", loss, LOSS_PROBE)
    _table("bias gradient of a 1-unit output layer", output_bias, OUTPUT_BIAS_PROBE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
