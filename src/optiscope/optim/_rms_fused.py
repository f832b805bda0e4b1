"""RMSprop's and Adagrad's stacked steps as one pass of the fused kernels (see :mod:`._native`,
:mod:`._fused_plan` and the header of :file:`_fused_rms.c` for the operations): RMSprop's
per-step scalar is ``-lr``, Adagrad's ``-clr = -lr / (1 + (t - 1) lr_decay)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from torch import Tensor

from optiscope.optim._base import Lr, lr_at
from optiscope.optim._fused_plan import (
    KernelPlan,
    PerStep,
    clamp_is_exact,
    floats,
    modes,
    scheduled,
)
from optiscope.optim._native import (
    MODE_CENTERED,
    MODE_DECAY,
    MODE_MOMENTUM,
    VSQRT_MODE,
    AdagradArgs,
    FusedRms,
    RmspropArgs,
)

__all__ = ["AdagradPlan", "RmspropPlan", "adagrad_tensors", "neg_clr", "rmsprop_tensors"]


class _RmspropHyper(Protocol):
    square_avg: list[Tensor]
    grad_avg: list[Tensor] | None
    momentum_buffer: list[Tensor] | None
    lr: tuple[Lr, ...]
    alpha: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    momentum: tuple[float, ...]
    centered: tuple[bool, ...]


class _AdagradHyper(Protocol):
    sum: list[Tensor]
    lr: tuple[Lr, ...]
    lr_decay: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]


class RmspropPlan(KernelPlan):
    """One RMSprop step of K configs as one kernel call per parameter tensor.

    Args:
        kernel: the loaded kernels.
        params, grads: stacked ``(K, *shape)`` tensors (see :func:`fits`).
        state: the configs' state and hyperparameters.
    """

    def __init__(
        self,
        kernel: FusedRms,
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: _RmspropHyper,
    ) -> None:
        lrs = state.lr
        per_step = PerStep(lrs, _neg_lr, constant=not scheduled(lrs))
        super().__init__(kernel, rmsprop_tensors(params, grads, state), [(per_step, "neg_lr")])
        k = int(params[0].shape[0])
        mode = modes(
            (MODE_DECAY, [wd != 0 for wd in state.weight_decay]),
            (MODE_CENTERED, state.centered),
            (MODE_MOMENTUM, [mu > 0 for mu in state.momentum]),
        )
        wd, alpha = floats(state.weight_decay), floats(state.alpha)
        w, eps = floats([1 - a for a in state.alpha]), floats(state.eps)
        mu = floats(state.momentum)
        clamp = clamp_is_exact(state.eps)
        args = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            ga = None if state.grad_avg is None else state.grad_avg[i]
            b = None if state.momentum_buffer is None else state.momentum_buffer[i]
            args.append(
                RmspropArgs(
                    k=k,
                    n=p[0].numel(),
                    stride=p[0].numel(),
                    p=p.data_ptr(),
                    v=state.square_avg[i].data_ptr(),
                    ga=None if ga is None else ga.data_ptr(),
                    b=None if b is None else b.data_ptr(),
                    g=g.data_ptr(),
                    mode=mode.data_ptr(),
                    wd=wd.data_ptr(),
                    alpha=alpha.data_ptr(),
                    w=w.data_ptr(),
                    eps=eps.data_ptr(),
                    mu=mu.data_ptr(),
                    neg_lr=0,
                    clamp=int(clamp),
                    vsqrt=kernel.vsqrt,
                    vsqrt_mode=VSQRT_MODE,
                )
            )
        self.bind(args, kernel.rmsprop, [mode, wd, alpha, w, eps, mu])


class AdagradPlan(KernelPlan):
    """One Adagrad step of K configs as one kernel call per parameter tensor.

    Args:
        kernel: the loaded kernels.
        params, grads: stacked ``(K, *shape)`` tensors (see :func:`fits`).
        state: the configs' state and hyperparameters.
    """

    def __init__(
        self,
        kernel: FusedRms,
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: _AdagradHyper,
    ) -> None:
        keys = list(zip(state.lr, state.lr_decay, strict=True))
        constant = not scheduled(state.lr) and not any(state.lr_decay)
        per_step = PerStep(keys, neg_clr, constant=constant)
        super().__init__(kernel, adagrad_tensors(params, grads, state), [(per_step, "neg_clr")])
        k = int(params[0].shape[0])
        mode = modes((MODE_DECAY, [wd != 0 for wd in state.weight_decay]))
        wd, eps = floats(state.weight_decay), floats(state.eps)
        clamp = clamp_is_exact(state.eps)
        args = [
            AdagradArgs(
                k=k,
                n=p[0].numel(),
                stride=p[0].numel(),
                p=p.data_ptr(),
                s=s.data_ptr(),
                g=g.data_ptr(),
                mode=mode.data_ptr(),
                wd=wd.data_ptr(),
                eps=eps.data_ptr(),
                neg_clr=0,
                clamp=int(clamp),
                vsqrt=kernel.vsqrt,
                vsqrt_mode=VSQRT_MODE,
            )
            for p, g, s in zip(params, grads, state.sum, strict=True)
        ]
        self.bind(args, kernel.adagrad, [mode, wd, eps])


def rmsprop_tensors(
    params: Sequence[Tensor], grads: Sequence[Tensor], state: _RmspropHyper
) -> list[Tensor]:
    """Every tensor an RMSprop step reads or writes, in a fixed order (for :meth:`Bound.binds`)."""
    return [
        *params,
        *grads,
        *state.square_avg,
        *(state.grad_avg or ()),
        *(state.momentum_buffer or ()),
    ]


def adagrad_tensors(
    params: Sequence[Tensor], grads: Sequence[Tensor], state: _AdagradHyper
) -> list[Tensor]:
    """Every tensor an Adagrad step reads or writes, in a fixed order."""
    return [*params, *grads, *state.sum]


def _neg_lr(lr: Lr, t: float) -> float:
    return -lr_at(lr, t)


def neg_clr(lr_lr_decay: tuple[Lr, float], t: float) -> float:
    """Adagrad's ``-clr`` at step ``t``, in Python doubles as torch computes it."""
    lr, lr_decay = lr_lr_decay
    return -(lr_at(lr, t) / (1 + (t - 1) * lr_decay))
