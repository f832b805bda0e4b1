r"""Adagrad (Duchi, Hazan & Singer, https://jmlr.org/papers/v12/duchi11a.html).

With ``g`` the gradient plus ``λ p`` (L2 weight decay) and a sum of squares ``s`` that starts
at ``initial_accumulator_value``, at step ``t``:

.. math::

    \text{clr} &= \text{lr} / (1 + (t - 1) \, \text{lr\_decay}) \\
    s &\leftarrow s + g^2 \\
    p &\leftarrow p - \text{clr} \, g / (\sqrt{s} + \epsilon)

The reference is ``torch.optim.Adagrad`` (single-tensor path, dense gradients). The step size
``clr`` is the one scalar that changes with the step; it is computed in Python doubles per
distinct ``(lr, lr_decay)``, as torch computes it, and rounded once.
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
    Distinct,
    HParamSpec,
    Lr,
    OptimizerInfo,
    check_stacked,
    config_column,
    lrs_of,
    select_where,
)
from optiscope.optim._fused_plan import Bound, fits, fused_agrees
from optiscope.optim._rms_fused import AdagradPlan, adagrad_tensors, neg_clr

__all__ = [
    "ADAGRAD",
    "AdagradState",
    "adagrad_reference_step",
    "adagrad_step",
    "init_adagrad_state",
]


@dataclass
class AdagradState(ColumnCache):
    """State of K Adagrad configs that step in lockstep.

    Attributes:
        sum: ``s`` per parameter, each config's slice filled with its
            ``initial_accumulator_value``.  # (K, *param_shape)
        lr: per-config lrs (Python floats, or :class:`StepLrs` read at each step).
        lr_decay, eps, weight_decay: per-config hyperparameters (K Python floats).
        step: steps taken so far (the same for all K).
        fused: take the fused kernel where it is available (:func:`fused_kernel`): one pass
            over memory instead of about six torch calls, the same numbers; ``False`` keeps
            the torch calls.
        columns: float32 per-config columns ``(K, 1, ...)``, cached by name and rank.
    """

    sum: list[Tensor]
    lr: tuple[Lr, ...]
    lr_decay: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    step: int = 0
    fused: bool = True
    _plan: Bound | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._step_size = Distinct(list(zip(self.lr, self.lr_decay, strict=True)))


def init_adagrad_state(
    params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]
) -> AdagradState:
    """Sums of squares for stacked ``params``, each config's starting at its own
    ``initial_accumulator_value`` (rounded once to the parameters' dtype, as
    ``torch.full_like`` rounds it).

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts, in the order of the stacked axis.
    """
    check_stacked(params, hparams)
    initial = [float(h["initial_accumulator_value"]) for h in hparams]
    return AdagradState(
        sum=[torch.empty_like(p).copy_(config_column(initial, p)) for p in params],
        lr=lrs_of(hparams),
        lr_decay=tuple(float(h["lr_decay"]) for h in hparams),
        eps=tuple(float(h["eps"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
    )


@torch.no_grad()
def adagrad_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: AdagradState) -> None:
    """One Adagrad step of K configs, in place.

    Op for op what ``torch.optim.Adagrad``'s single-tensor path does on each config::

        g = g.add(p, alpha=wd)                    # where wd != 0
        clr = lr / (1 + (t - 1) * lr_decay)       # Python doubles
        s.addcmul_(g, g, value=1)
        d = s.sqrt().add_(eps)
        p.addcdiv_(g, d, value=-clr)

    with every Python scalar replaced by a per-config column: ``x.add(y, alpha=c)`` becomes
    ``torch.addcmul(x, y, c)`` (one fused multiply-add either way) and ``addcdiv_(g, d,
    value=c)`` becomes ``addcdiv_(g * c, d)`` (torch's kernel forms ``value * t1`` first, so
    both round the same). When every config has the same ``(lr, lr_decay)`` the step size
    stays the Python scalar torch passes.

    On the CPU these calls run as one pass of a fused kernel where it is available
    (:func:`fused_kernel`; ``state.fused = False`` keeps the calls): the same operations on
    each element, in the same order, with torch's own square root.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_adagrad_state`.
    """
    state.step += 1
    if state.fused:
        plan = state._plan
        if plan is None or not plan.binds(adagrad_tensors(params, grads, state)):
            plan = state._plan = _plan(fused_kernel(), params, grads, state)
        if plan.kernel is not None:
            plan.run(state.step)
            return
    has_decay = state.flags("has_decay", lambda: [wd != 0 for wd in state.weight_decay])
    for p, g, s in zip(params, grads, state.sum, strict=True):
        if has_decay.any:
            wd = state.column("weight_decay", state.weight_decay, p)
            g = select_where(has_decay, torch.addcmul(g, p, wd), g)  # (K, *shape)
        s.addcmul_(g, g, value=1)
        std = s.sqrt().add_(state.column("eps", state.eps, p))  # (K, *shape)
        step_size = state._step_size.column_at("-clr", neg_clr, state.step, p)
        if isinstance(step_size, float):
            p.addcdiv_(g, std, value=step_size)
        else:
            p.addcdiv_(g * step_size, std)


def _plan(
    kernel: _native.FusedRms | None,
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: AdagradState,
) -> Bound:
    """The fused step for these tensors, or (no kernel, or tensors it cannot take) a plan
    that leaves the step to the torch calls."""
    groups = [[p, g, s] for p, g, s in zip(params, grads, state.sum, strict=True)]
    if kernel is None or not fits(groups):
        return Bound(adagrad_tensors(params, grads, state))
    return AdagradPlan(kernel, params, grads, state)


@cache
def fused_kernel() -> _native.FusedRms | None:
    """The fused kernel (built on first use, see :mod:`optiscope.optim._native`), if this
    machine has it and it gives, on test numbers, what the torch calls give; else ``None``
    (:func:`fused_unavailable_reason` says why) and the torch calls are used."""
    return _native.checked(_native.load_rms(), _fused_agrees, _FUSED_REASON, "Adagrad")


_FUSED_REASON: list[str] = []


def fused_unavailable_reason() -> str | None:
    """Why :func:`fused_kernel` is ``None`` (``None`` when it is not)."""
    return _native.why_unavailable(fused_kernel(), "rms", _FUSED_REASON)


FUSED_CHECK_HPARAMS = (
    # (lr, lr_decay, weight_decay, initial_accumulator_value, eps): decay on and off in one
    # group, a step size that changes every step, a starting sum, and the sqrt clamp on
    # (eps > 0) and off (eps = 0: 0 / 0 stays NaN)
    ((0.01, 0.0, 0.0, 0.0, 1e-10),),
    (
        (0.1, 0.01, 0.01, 0.1, 1e-10),
        (1.0, 0.0, 0.0, 0.0, 1e-6),
        (0.01, 0.5, 0.3, 0.0, 1e-10),
    ),
    (
        (0.1, 0.01, 0.01, 0.1, 1e-10),
        (1.0, 0.0, 0.3, 0.0, 0.0),
    ),
)


def _fused_agrees(kernel: _native.FusedRms) -> bool:
    """Whether the kernel's steps equal the torch calls' (parameters and sums) on numbers of
    mixed magnitudes with zeros and subnormals, for every group of
    :data:`FUSED_CHECK_HPARAMS`, over a length that is not a whole number of vectors."""
    names = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    groups = []
    for group in FUSED_CHECK_HPARAMS:
        hparams = [ADAGRAD.complete(dict(zip(names, h, strict=True))) for h in group]
        groups.append(hparams)
    return fused_agrees(kernel, groups, init_adagrad_state, _plan, adagrad_step, adagrad_tensors)


def adagrad_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One Adagrad step of one config, as ``torch.optim.Adagrad``'s single-tensor path writes
    it: the same calls, with its Python scalars.

    Args:
        params: one config's parameters, updated in place.
        grads: their gradients.
        state: this function's state (step count, sums), empty before the first step.
        hparams: validated hyperparameters.
    """
    lr, lr_decay, eps = hparams["lr"], hparams["lr_decay"], hparams["eps"]
    weight_decay = hparams["weight_decay"]
    if "sum" not in state:
        initial = hparams["initial_accumulator_value"]
        state["sum"] = [torch.full_like(p, initial) for p in params]
    step = state["step"] = state.get("step", 0) + 1
    for p, g, state_sum in zip(params, grads, state["sum"], strict=True):
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        clr = lr / (1 + (float(step) - 1) * lr_decay)  # torch reads its step counter as a float
        state_sum.addcmul_(g, g, value=1)
        std = state_sum.sqrt().add_(eps)
        p.addcdiv_(g, std, value=-clr)


ADAGRAD = OptimizerInfo(
    name="adagrad",
    title="Adagrad",
    torch_class=torch.optim.Adagrad,
    summary="divides by the root of all past squared gradients; optional lr decay",
    hparams=(
        HParamSpec("lr", 1e-2, low=0.0, low_open=True, doc="step size"),
        HParamSpec("lr_decay", 0.0, low=0.0, doc="step size lr / (1 + (t - 1) lr_decay)"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
        HParamSpec("initial_accumulator_value", 0.0, low=0.0, doc="start of the sum of squares"),
        HParamSpec("eps", 1e-10, low=0.0, doc="added to the denominator"),
    ),
    init_state=init_adagrad_state,
    step=adagrad_step,
    reference_step=adagrad_reference_step,
)
