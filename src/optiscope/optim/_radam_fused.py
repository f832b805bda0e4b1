"""RAdam's stacked step as one pass of the fused kernel (see :mod:`._native`,
:mod:`._fused_plan` and the header of :file:`_fused_radam.c` for the operations).

Its per-step scalars: the decoupled decay factor ``1 - lr * wd`` (where any config has one),
the lr, ``1 - beta1**t``, ``sqrt(1 - beta2**t)`` and the rectification ``r_t`` (0 where the
config is not rectified at the step), each computed in Python doubles as torch computes them
and rounded once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from torch import Tensor

from optiscope.optim._base import Lr, lr_at
from optiscope.optim._fused_plan import (
    KernelPlan,
    PerStep,
    clamp_is_exact,
    decay_factor,
    floats,
    modes,
    scheduled,
)
from optiscope.optim._native import MODE_DECAY, VSQRT_MODE, FusedRadam, RadamArgs

__all__ = ["RadamPlan", "radam_tensors"]


class _RadamHyper(Protocol):
    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    decoupled_weight_decay: tuple[bool, ...]


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
        state: _RadamHyper,
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
        pairs = zip(state.weight_decay, state.decoupled_weight_decay, strict=True)
        decoupled = [wd != 0 and d for wd, d in pairs]  # (K,)
        if any(decoupled):  # (a factor 1.0 for the others: x * 1.0 is x, as in the calls)
            keys = [
                (lr, wd if d else 0.0)
                for lr, wd, d in zip(state.lr, state.weight_decay, decoupled, strict=True)
            ]
            scalars.append((PerStep(keys, decay_factor, constant=not scheduled(state.lr)), "decay"))
        super().__init__(kernel, radam_tensors(params, grads, state), scalars)
        k = int(params[0].shape[0])
        l2 = [
            wd != 0 and not d
            for wd, d in zip(state.weight_decay, state.decoupled_weight_decay, strict=True)
        ]
        mode = modes((MODE_DECAY, l2))
        wd = floats([w if f else 0.0 for w, f in zip(state.weight_decay, l2, strict=True)])
        w1, beta2_column = floats([1 - b for b in beta1]), floats(beta2)
        c2, eps = floats([1 - b for b in beta2]), floats(state.eps)
        clamp = clamp_is_exact(state.eps)
        args = [
            RadamArgs(
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
                beta2=beta2_column.data_ptr(),
                c2=c2.data_ptr(),
                eps=eps.data_ptr(),
                lr=0,
                bias1=0,
                sb2=0,
                rect=0,
                clamp=int(clamp),
                vsqrt=kernel.vsqrt,
                vsqrt_mode=VSQRT_MODE,
            )
            for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True)
        ]
        self.bind(args, kernel.radam, [mode, wd, w1, beta2_column, c2, eps])


def radam_tensors(
    params: Sequence[Tensor], grads: Sequence[Tensor], state: _RadamHyper
) -> list[Tensor]:
    """Every tensor a RAdam step reads or writes, in a fixed order."""
    return [*params, *grads, *state.exp_avg, *state.exp_avg_sq]
