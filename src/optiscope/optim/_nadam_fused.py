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
    PerStep,
    clamp_is_exact,
    decay_factor,
    floats,
    modes,
    scheduled,
)
from optiscope.optim._native import MODE_DECAY, VSQRT_MODE, FusedNadam, NadamArgs

__all__ = ["NadamPlan", "bias2", "nadam_tensors"]


class _NadamHyper(Protocol):
    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    momentum_decay: tuple[float, ...]
    decoupled_weight_decay: tuple[bool, ...]

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
        pairs = zip(state.weight_decay, state.decoupled_weight_decay, strict=True)
        decoupled = [wd != 0 and d for wd, d in pairs]  # (K,)
        if any(decoupled):  # (a factor 1.0 for the others: x * 1.0 is x, as in the calls)
            keys = [
                (lr, wd if d else 0.0)
                for lr, wd, d in zip(state.lr, state.weight_decay, decoupled, strict=True)
            ]
            scalars.append((PerStep(keys, decay_factor, constant=not scheduled(state.lr)), "decay"))
        super().__init__(kernel, nadam_tensors(params, grads, state), scalars)
        k = int(params[0].shape[0])
        l2 = [
            wd != 0 and not d
            for wd, d in zip(state.weight_decay, state.decoupled_weight_decay, strict=True)
        ]
        mode = modes((MODE_DECAY, l2))
        wd = floats([w if f else 0.0 for w, f in zip(state.weight_decay, l2, strict=True)])
        w1, beta2 = floats([1 - b for b in state.beta1]), floats(state.beta2)
        c2, eps = floats([1 - b for b in state.beta2]), floats(state.eps)
        clamp = clamp_is_exact(state.eps)
        args = [
            NadamArgs(
                k=k,
                n=p[0].numel(),
                stride=p[0].numel(),
                p=p.data_ptr(),
                m=m.data_ptr(),
                v=v.data_ptr(),
                g=g.data_ptr(),
                mode=mode.data_ptr(),
                decay=None,  # (set at the first step where any config has one)
                wd=wd.data_ptr(),
                w1=w1.data_ptr(),
                beta2=beta2.data_ptr(),
                c2=c2.data_ptr(),
                eps=eps.data_ptr(),
                bias2=0,
                cg=0,
                cm=0,
                clamp=int(clamp),
                vsqrt=kernel.vsqrt,
                vsqrt_mode=VSQRT_MODE,
            )
            for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True)
        ]
        self.bind(args, kernel.nadam, [mode, wd, w1, beta2, c2, eps])


def nadam_tensors(
    params: Sequence[Tensor], grads: Sequence[Tensor], state: _NadamHyper
) -> list[Tensor]:
    """Every tensor a NAdam step reads or writes, in a fixed order."""
    return [*params, *grads, *state.exp_avg, *state.exp_avg_sq]


def bias2(beta2: float, t: float) -> float:
    """NAdam's ``1 - beta2**t``, in Python doubles as torch computes it."""
    return float(1 - beta2**t)
