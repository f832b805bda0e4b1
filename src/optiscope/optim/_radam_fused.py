"""RAdam's stacked step as one pass of the fused kernel (see :mod:`._native`,
:mod:`._fused_plan` and the header of :file:`_fused_radam.c` for the operations).

Its per-step scalars: the decoupled decay factor ``1 - lr * wd`` (where any config has one),
the lr, ``1 - beta1**t``, ``sqrt(1 - beta2**t)`` and the rectification ``r_t`` (0 where the
config is not rectified at the step), each computed in Python doubles as torch computes them
and rounded once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from optiscope.optim._base import lr_at
from optiscope.optim._fused_plan import (
    KernelPlan,
    MomentHyper,
    PerStep,
    decoupled_decay,
    moment_fields,
    moment_tensors,
    scheduled,
)
from optiscope.optim._native import FusedRadam, RadamArgs

__all__ = ["RadamPlan"]


class RadamPlan(KernelPlan):
    """One RAdam step of K configs as one kernel call per parameter tensor.

    Args:
        kernel: the loaded kernel.
        params, grads: stacked ``(K, *shape)`` tensors (see :func:`fits`).
        state: the configs' state and hyperparameters.
        bias1, sqrt_bias2, rectification: ``fn(beta, t)`` of the per-step scalars, the
            functions the torch calls use.
    """

    def __init__(
        self,
        kernel: FusedRadam,
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: MomentHyper,
        *,
        bias1: Callable[[Any, float], float],
        sqrt_bias2: Callable[[Any, float], float],
        rectification: Callable[[Any, float], float],
    ) -> None:
        beta1, beta2 = list(state.beta1), list(state.beta2)
        scalars = [
            (PerStep(list(state.lr), lr_at, constant=not scheduled(state.lr)), "lr"),
            (PerStep(beta1, bias1, constant=False), "bias1"),
            (PerStep(beta2, sqrt_bias2, constant=False), "sb2"),
            (PerStep(beta2, rectification, constant=False), "rect"),
        ]
        decay = decoupled_decay(state)
        if decay is not None:
            scalars.append(decay)
        super().__init__(kernel, moment_tensors(params, grads, state), scalars)
        fields, columns = moment_fields(params, grads, state, beta1, beta2, kernel.vsqrt)
        args = [RadamArgs(**shared, lr=0, bias1=0, sb2=0, rect=0) for shared in fields]
        self.bind(args, kernel.radam, columns)
