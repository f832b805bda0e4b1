"""NAdam's stacked step as one pass of the fused kernel (see :mod:`._native`,
:mod:`._fused_plan` and the header of :file:`_fused_nadam.c` for the operations).

Its per-step scalars: the decoupled decay factor ``1 - lr * wd`` (where any config has one),
the bias correction ``1 - beta2**t`` and the two ``addcdiv`` values, the state's
:meth:`~optiscope.optim._nadam.NAdamState.grad_coefficient` and ``avg_coefficient`` (from the
float32 running product of the momentum schedule, as torch keeps it), each computed in Python
doubles and rounded once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

from torch import Tensor

from optiscope.optim._base import Lr
from optiscope.optim._fused_plan import (
    KernelPlan,
    MomentHyper,
    PerStep,
    decoupled_decay,
    moment_fields,
    moment_tensors,
)
from optiscope.optim._native import FusedNadam, NadamArgs

__all__ = ["NadamPlan", "bias2"]


class _NadamHyper(MomentHyper, Protocol):
    momentum_decay: tuple[float, ...]

    def grad_coefficient(self, key: tuple[Lr, float, float], t: float) -> float: ...

    def avg_coefficient(self, key: tuple[Lr, float, float], t: float) -> float: ...


class NadamPlan(KernelPlan):
    """One NAdam step of K configs as one kernel call per parameter tensor.

    Args:
        kernel: the loaded kernel.
        params, grads: stacked ``(K, *shape)`` tensors (see :func:`fits`).
        state: the configs' state and hyperparameters.
    """

    def __init__(
        self,
        kernel: FusedNadam,
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: _NadamHyper,
    ) -> None:
        coefficients: list[Hashable] = list(
            zip(state.lr, state.beta1, state.momentum_decay, strict=True)
        )
        scalars = [
            (PerStep(list(state.beta2), bias2, constant=False), "bias2"),
            (PerStep(coefficients, state.grad_coefficient, constant=False), "cg"),
            (PerStep(coefficients, state.avg_coefficient, constant=False), "cm"),
        ]
        decay = decoupled_decay(state)
        if decay is not None:
            scalars.append(decay)
        super().__init__(kernel, moment_tensors(params, grads, state), scalars)
        fields, columns = moment_fields(
            params, grads, state, state.beta1, state.beta2, kernel.vsqrt
        )
        args = [NadamArgs(**shared, bias2=0, cg=0, cm=0) for shared in fields]
        self.bind(args, kernel.nadam, columns)


def bias2(beta2: float, t: float) -> float:
    """NAdam's ``1 - beta2**t``, in Python doubles as torch computes it."""
    return float(1 - beta2**t)
