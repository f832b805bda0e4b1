r"""RMSprop (Hinton, Lecture 6e, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf;
centered form: Graves, https://arxiv.org/abs/1308.0850).

With ``g`` the gradient plus ``λ p`` (L2 weight decay), squared average ``v`` and, when
centered, gradient average ``\bar g`` (both start at zero):

.. math::

    v &\leftarrow \alpha v + (1 - \alpha) g^2 \\
    \bar g &\leftarrow \alpha \bar g + (1 - \alpha) g \quad \text{(centered)} \\
    d &= \sqrt{v - \bar g^2} + \epsilon \text{ (centered) or } \sqrt{v} + \epsilon \\
    b &\leftarrow \mu b + g / d, \quad p \leftarrow p - \text{lr} \, b \quad (\mu > 0) \\
    p &\leftarrow p - \text{lr} \, g / d \quad (\mu = 0)

The reference is ``torch.optim.RMSprop`` (single-tensor path). No scalar depends on the step,
so every per-config constant is a column fixed when the state is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch
from torch import Tensor

from optiscope.optim import _native
from optiscope.optim._base import (
    ColumnCache,
    HParamSpec,
    Lr,
    OptimizerInfo,
    check_stacked,
    lrs_of,
    select_where,
)
from optiscope.optim._fused_plan import Bound, fits, fused_agrees
from optiscope.optim._rms_fused import RmspropPlan, rmsprop_tensors

__all__ = [
    "RMSPROP",
    "RMSpropState",
    "init_rmsprop_state",
    "rmsprop_reference_step",
    "rmsprop_step",
]


@dataclass
class RMSpropState(ColumnCache):
    """State of K RMSprop configs that step in lockstep.

    Attributes:
        square_avg: ``v`` per parameter, zeros at the start.  # (K, *param_shape)
        grad_avg: ``\\bar g`` per parameter when any config is centered, else ``None``
            (non-centered configs' slices are kept but never read).  # (K, *param_shape)
        momentum_buffer: ``b`` per parameter when any config has momentum, else ``None``
            (slices of configs with momentum 0 are never read).  # (K, *param_shape)
        lr: per-config lrs (Python floats, or :class:`StepLrs` read at each step).
        alpha, eps, weight_decay, momentum: per-config hyperparameters (K Python floats).
        centered: per-config flags.
        step: steps taken so far.
        fused: take the fused kernel where it is available (:func:`fused_kernel`): one pass
            over memory instead of about ten torch calls, the same numbers; ``False`` keeps
            the torch calls.
        columns: float32 per-config columns ``(K, 1, ...)``, cached by name and rank.
    """

    square_avg: list[Tensor]
    grad_avg: list[Tensor] | None
    momentum_buffer: list[Tensor] | None
    lr: tuple[Lr, ...]
    alpha: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    momentum: tuple[float, ...]
    centered: tuple[bool, ...]
    step: int = 0
    fused: bool = True
    _plan: Bound | None = field(default=None, repr=False)


def init_rmsprop_state(
    params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]
) -> RMSpropState:
    """Zero averages (and buffers) for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts, in the order of the stacked axis.
    """
    check_stacked(params, hparams)
    centered = tuple(bool(h["centered"]) for h in hparams)
    momentum = tuple(float(h["momentum"]) for h in hparams)
    return RMSpropState(
        square_avg=[torch.zeros_like(p) for p in params],
        grad_avg=[torch.zeros_like(p) for p in params] if any(centered) else None,
        momentum_buffer=[torch.zeros_like(p) for p in params] if any(momentum) else None,
        lr=lrs_of(hparams),
        alpha=tuple(float(h["alpha"]) for h in hparams),
        eps=tuple(float(h["eps"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
        momentum=momentum,
        centered=centered,
    )


@torch.no_grad()
def rmsprop_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: RMSpropState) -> None:
    """One RMSprop step of K configs, in place.

    Op for op what ``torch.optim.RMSprop``'s single-tensor path does on each config::

        g = g.add(p, alpha=wd)                              # where wd != 0
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        ga.lerp_(g, 1 - alpha)                              # centered only
        d = v.addcmul(ga, ga, value=-1).sqrt_()  (centered)  or  v.sqrt()
        d.add_(eps)
        b.mul_(mu).addcdiv_(g, d); p.add_(b, alpha=-lr)     # where mu > 0
        p.addcdiv_(g, d, value=-lr)                         # where mu == 0

    with every Python scalar replaced by a per-config column: ``x.add(y, alpha=c)`` becomes
    ``torch.addcmul(x, y, c)`` (one fused multiply-add either way), ``addcmul_(g, g,
    value=c)`` becomes ``addcmul_(g * c, g)`` and ``addcdiv_(g, d, value=c)`` becomes
    ``addcdiv_(g * c, d)`` (torch's kernels form ``value * t1`` first, so both round the
    same). Where configs differ in ``centered`` or in whether they use momentum, both forms
    are computed and each config keeps the one torch would have run.

    On the CPU these calls run as one pass of a fused kernel where it is available
    (:func:`fused_kernel`; ``state.fused = False`` keeps the calls): the same operations on
    each element, in the same order, with torch's own square root.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_rmsprop_state`.
    """
    state.step += 1
    if state.fused:
        tensors = rmsprop_tensors(params, grads, state)
        plan = state._plan
        if plan is None or not plan.binds(tensors):
            plan = state._plan = _plan(fused_kernel(), params, grads, state)
        if plan.kernel is not None:
            plan.run(state.step)
            return
    has_decay = state.flags("has_decay", lambda: [wd != 0 for wd in state.weight_decay])
    has_momentum = state.flags("has_momentum", lambda: [mu > 0 for mu in state.momentum])
    centered = state.flags("centered", lambda: state.centered)
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if has_decay.any:
            wd = state.column("weight_decay", state.weight_decay, p)
            g = select_where(has_decay, torch.addcmul(g, p, wd), g)  # (K, *shape)
        v = state.square_avg[i]
        v.mul_(state.column("alpha", state.alpha, p))
        v.addcmul_(g * state.column("1-alpha", lambda: [1 - a for a in state.alpha], p), g)
        if state.grad_avg is not None:
            ga = state.grad_avg[i]
            ga.lerp_(g, state.column("1-alpha", lambda: [1 - a for a in state.alpha], p))
            avg = select_where(centered, v.addcmul(ga, ga, value=-1), v).sqrt()
        else:
            avg = v.sqrt()  # (K, *shape)
        avg.add_(state.column("eps", state.eps, p))
        neg_lr = state.lr_column("-lr", state.lr, _negative, state.step, p)
        if isinstance(neg_lr, float):  # (one shared scheduled lr: a 0-dim column, same value)
            neg_lr = torch.tensor(neg_lr, dtype=p.dtype, device=p.device)
        if state.momentum_buffer is None:
            p.addcdiv_(g * neg_lr, avg)
            continue
        buf = state.momentum_buffer[i]
        buf.mul_(state.column("momentum", state.momentum, p)).addcdiv_(g, avg)
        if has_momentum.all:
            p.addcmul_(buf, neg_lr)
        else:
            along_buffer = torch.addcmul(p, buf, neg_lr)
            along_gradient = torch.addcdiv(p, g * neg_lr, avg)
            p.copy_(select_where(has_momentum, along_buffer, along_gradient))


def _negative(lr: float) -> float:
    return -lr


def _plan(
    kernel: _native.FusedRms | None,
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: RMSpropState,
) -> Bound:
    """The fused step for these tensors, or (no kernel, or tensors it cannot take) a plan
    that leaves the step to the torch calls."""
    tensors = rmsprop_tensors(params, grads, state)
    groups = [
        [p, g, state.square_avg[i]]
        + ([] if state.grad_avg is None else [state.grad_avg[i]])
        + ([] if state.momentum_buffer is None else [state.momentum_buffer[i]])
        for i, (p, g) in enumerate(zip(params, grads, strict=True))
    ]
    if kernel is None or not fits(groups):
        return Bound(tensors)
    return RmspropPlan(kernel, params, grads, state)


@cache
def fused_kernel() -> _native.FusedRms | None:
    """The fused kernel (built on first use, see :mod:`optiscope.optim._native`), if this
    machine has it and it gives, on test numbers, what the torch calls give; else ``None``
    (:func:`fused_unavailable_reason` says why) and the torch calls are used."""
    return _native.checked(_native.load_rms(), _fused_agrees, _FUSED_REASON, "RMSprop")


_FUSED_REASON: list[str] = []


def fused_unavailable_reason() -> str | None:
    """Why :func:`fused_kernel` is ``None`` (``None`` when it is not)."""
    return _native.why_unavailable(fused_kernel(), "rms", _FUSED_REASON)


FUSED_CHECK_HPARAMS = (
    # (lr, alpha, eps, weight_decay, momentum, centered): lerp's two branches (1 - alpha
    # < 0.5 and not), each of decay, momentum and centered on and off in one group, and the
    # sqrt clamp on (eps > 0) and off (eps = 0: 0 / 0 stays NaN)
    ((0.01, 0.99, 1e-8, 0.0, 0.0, False),),
    (
        (0.01, 0.99, 1e-8, 0.01, 0.9, True),
        (1.0, 0.3, 1e-6, 0.0, 0.0, False),
        (0.001, 0.9, 1e-8, 0.0, 0.5, False),
        (0.1, 0.5, 1e-8, 0.3, 0.0, True),
    ),
    (
        (0.01, 0.99, 1e-8, 0.01, 0.9, True),
        (0.1, 0.5, 0.0, 0.3, 0.0, True),
        (1.0, 0.3, 0.0, 0.0, 0.0, False),
    ),
)


def _fused_agrees(kernel: _native.FusedRms) -> bool:
    """Whether the kernel's steps equal the torch calls' (parameters and state) on numbers
    of mixed magnitudes with zeros and subnormals, for every group of
    :data:`FUSED_CHECK_HPARAMS`, over a length that is not a whole number of vectors."""
    names = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    groups = []
    for group in FUSED_CHECK_HPARAMS:
        hparams = [RMSPROP.complete(dict(zip(names, h, strict=True))) for h in group]
        groups.append(hparams)
    return fused_agrees(kernel, groups, init_rmsprop_state, _plan, rmsprop_step, rmsprop_tensors)


def rmsprop_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One RMSprop step of one config, as ``torch.optim.RMSprop``'s single-tensor path
    writes it: the same calls, with its Python scalars.

    Args:
        params: one config's parameters, updated in place.
        grads: their gradients.
        state: this function's state (averages, buffers), empty before the first step.
        hparams: validated hyperparameters.
    """
    lr, alpha, eps = hparams["lr"], hparams["alpha"], hparams["eps"]
    weight_decay, momentum, centered = (
        hparams["weight_decay"],
        hparams["momentum"],
        hparams["centered"],
    )
    if "square_avg" not in state:  # torch starts every average and buffer at zero
        state["square_avg"] = [torch.zeros_like(p) for p in params]
        state["grad_avg"] = [torch.zeros_like(p) for p in params]
        state["momentum_buffer"] = [torch.zeros_like(p) for p in params]
    for p, g, square_avg, grad_avg, buf in zip(
        params,
        grads,
        state["square_avg"],
        state["grad_avg"],
        state["momentum_buffer"],
        strict=True,
    ):
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if centered:
            grad_avg.lerp_(g, 1 - alpha)
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(eps)
        if momentum > 0:
            buf.mul_(momentum).addcdiv_(g, avg)
            p.add_(buf, alpha=-lr)
        else:
            p.addcdiv_(g, avg, value=-lr)


RMSPROP = OptimizerInfo(
    name="rmsprop",
    title="RMSprop",
    torch_class=torch.optim.RMSprop,
    summary="divides by a running root-mean-square of the gradient; optional momentum, centered",
    hparams=(
        HParamSpec("lr", 1e-2, low=0.0, low_open=True, doc="step size"),
        HParamSpec(
            "alpha",
            0.99,
            low=0.0,
            high=1.0,
            high_open=True,
            doc="decay of the squared-gradient average",
        ),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to the denominator"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
        HParamSpec("momentum", 0.0, low=0.0, high=1.0, high_open=True, doc="momentum factor"),
        HParamSpec("centered", False, kind="bool", doc="divide by the gradient's variance"),
    ),
    init_state=init_rmsprop_state,
    step=rmsprop_step,
    reference_step=rmsprop_reference_step,
)
