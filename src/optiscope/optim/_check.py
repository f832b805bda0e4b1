"""Asking the machine whether a vectorized update still equals ``torch.optim`` here.

The vectorized updates replace torch's Python scalars by per-config columns and rewrite a few
calls so they round the same (``addcmul_(g * c, g)`` for ``addcmul_(g, g, value=c)``). That
equality is a property of torch's kernels on a device, not of the formulas: CUDA's
``addcmul`` computes ``a + value * (b * c)`` where the CPU kernel computes
``a + value * b * c``, and CUDA divides by a Python number as a product with its reciprocal.
So before a group trains, :func:`matches_reference` runs the vectorized update against each
optimizer's reference step (``torch.optim``'s single-tensor code with its Python scalars,
held to ``torch.optim`` itself by the tests) on the group's device; where a rewrite does not
hold, the group trains with the reference engine instead of drifting. (The reference step
rather than ``torch.optim``: constructing a ``torch.optim`` optimizer imports
``torch._dynamo``, 1.7 s in every fresh process.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optiscope.optim._base import OptimizerInfo, lr_at

__all__ = ["matches_reference"]

SHAPES = ((3, 7), (50,))
STEPS = 3


def matches_reference(
    info: OptimizerInfo,
    hparams: Sequence[Mapping[str, Any]],
    device: str | torch.device = "cpu",
) -> bool:
    """Whether ``info``'s vectorized step gives, bit for bit, what its reference step gives
    each config, for these K configs' hyperparameters on ``device``.

    A few steps on small random parameters, gradients of mixed magnitudes (tiny ones whose
    squares vanish, and exact zeros) and state, with the group's own hyperparameters (so the
    step takes the same path as the group's: shared values as scalars, varied ones as
    columns). Costs a few milliseconds for 64 configs.

    Args:
        info: a vectorizable optimizer.
        hparams: the group's validated hyperparameters, one dict per config.
        device: where the group trains.
    """
    assert info.init_state is not None and info.step is not None
    assert info.reference_step is not None
    generator = torch.Generator().manual_seed(20251201)
    k = len(hparams)
    params = [_values((k, *shape), generator).to(device) for shape in SHAPES]
    singles = [[p[i].clone() for p in params] for i in range(k)]
    states: list[dict[str, Any]] = [{} for _ in range(k)]
    state = info.init_state(params, hparams)
    for step in range(1, STEPS + 1):
        grads = [_values((k, *shape), generator, zeros=True).to(device) for shape in SHAPES]
        info.step(params, grads, state)
        for i in range(k):  # (a scheduled lr: the one of this step, as a scheduler sets it)
            now = {**hparams[i], "lr": lr_at(hparams[i]["lr"], step)}
            info.reference_step(singles[i], [g[i].clone() for g in grads], states[i], now)
    return all(
        _same(p[i], single) for i in range(k) for p, single in zip(params, singles[i], strict=True)
    )


def _values(shape: tuple[int, ...], generator: torch.Generator, *, zeros: bool = False) -> Tensor:
    values = torch.randn(shape, generator=generator)
    scale = torch.pow(10.0, torch.randint(-25, 2, shape, generator=generator).float())
    if zeros:
        scale[torch.rand(shape, generator=generator) < 0.25] = 0.0
    return values * scale


def _same(a: Tensor, b: Tensor) -> bool:
    """Equal as numbers, element for element, with NaN where the other has NaN."""
    nan = torch.isnan(a)
    return bool(torch.equal(nan, torch.isnan(b)) and torch.equal(a[~nan], b[~nan]))
