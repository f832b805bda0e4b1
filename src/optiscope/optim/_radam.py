r"""RAdam: Adam with a rectified adaptive lr (Liu et al., https://arxiv.org/abs/1908.03265).

With ``g`` the gradient (plus ``λ p`` for L2 decay, or ``p ← p (1 - lr λ)`` first when the
decay is decoupled), :math:`\rho_\infty = 2 / (1 - \beta_2) - 1` and
:math:`\rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t)`:

.. math::

    m &\leftarrow \beta_1 m + (1 - \beta_1) g, \quad
    v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad \hat m = m / (1 - \beta_1^t) \\
    p &\leftarrow p - \text{lr} \, \hat m \, \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v} + \epsilon}
      \, r_t \quad (\rho_t > 5), \qquad p \leftarrow p - \text{lr} \, \hat m \quad
      \text{(otherwise: plain momentum while the variance estimate is unreliable)}

with :math:`r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}`. The reference is ``torch.optim.RAdam``
(single-tensor path).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
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
    lr_at,
    lrs_of,
    reference_decayed,
    select_where,
    update_moments,
    weight_decayed,
)
from optiscope.optim._fused_plan import (
    Bound,
    fits,
    fused_agrees,
    moment_tensors,
)
from optiscope.optim._radam_fused import RadamPlan

__all__ = ["RADAM", "RAdamState", "init_radam_state", "radam_reference_step", "radam_step"]


def rho(beta2: float, t: float) -> tuple[float, float]:
    """``(rho_inf, rho_t)`` in Python doubles, as torch computes them."""
    bias_correction2 = 1 - beta2**t
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf, rho_inf - 2 * t * (beta2**t) / bias_correction2


def rectification(beta2: float, t: float) -> float:
    """:math:`r_t` where :math:`\\rho_t > 5` (torch's ``_compute_rect``), else 0 (unused)."""
    rho_inf, rho_t = rho(beta2, t)
    if not rho_t > 5.0:
        return 0.0
    return float(
        ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    )


@dataclass
class RAdamState(ColumnCache):
    """State of K RAdam configs that step in lockstep.

    Attributes:
        exp_avg: first moments ``m``, one per parameter.  # (K, *param_shape)
        exp_avg_sq: second moments ``v``, one per parameter.  # (K, *param_shape)
        lr: per-config lrs (Python floats, or :class:`StepLrs` read at each step).
        beta1, beta2, eps, weight_decay: per-config hyperparameters (K Python floats).
        decoupled_weight_decay: per-config flags (AdamW-style decay when set).
        step: steps taken so far (the same for all K).
        fused: take the fused kernel where it is available (:func:`fused_kernel`): one pass
            over memory instead of about fifteen torch calls, the same numbers; ``False``
            keeps the torch calls.
    """

    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    decoupled_weight_decay: tuple[bool, ...]
    step: int = 0
    fused: bool = True
    _plan: Bound | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        lrs: list[Hashable] = list(self.lr)
        self._lr = Distinct(lrs)
        self._beta1 = Distinct(list(self.beta1))
        self._beta2 = Distinct(list(self.beta2))


def init_radam_state(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> RAdamState:
    """Zero moments for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts, in the order of the stacked axis.
    """
    check_stacked(params, hparams)
    return RAdamState(
        exp_avg=[torch.zeros_like(p) for p in params],
        exp_avg_sq=[torch.zeros_like(p) for p in params],
        lr=lrs_of(hparams),
        beta1=tuple(float(h["betas"][0]) for h in hparams),
        beta2=tuple(float(h["betas"][1]) for h in hparams),
        eps=tuple(float(h["eps"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
        decoupled_weight_decay=tuple(bool(h["decoupled_weight_decay"]) for h in hparams),
    )


@torch.no_grad()
def radam_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: RAdamState) -> None:
    """One RAdam step of K configs, in place.

    Op for op what ``torch.optim.RAdam``'s single-tensor path does on each config::

        p.mul_(1 - lr * wd)  or  g = g.add(p, alpha=wd)      # where wd != 0
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        m_hat = m / (1 - beta1**t)
        if rho_t > 5:
            adaptive = (1 - beta2**t) ** 0.5 / v.sqrt().add_(eps)   # = reciprocal(d) * c
            p.add_(m_hat * lr * adaptive * r_t, alpha=-1.0)
        else:
            p.add_(m_hat * lr, alpha=-1.0)

    A Python number divided by a tensor is ``tensor.reciprocal() * number`` in torch
    (``Tensor.__rtruediv__``), and so it is here. Whether ``rho_t > 5`` depends on the
    config's ``beta2`` and the step: configs on either side of it keep their own form.

    On the CPU these calls run as one pass of a fused kernel where it is available
    (:func:`fused_kernel`; ``state.fused = False`` keeps the calls): the same operations on
    each element, in the same order, with torch's own square root.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_radam_state`.
    """
    state.step += 1
    t = state.step
    if state.fused:
        plan = state._plan
        if plan is None or not plan.binds(moment_tensors(params, grads, state)):
            plan = state._plan = _plan(fused_kernel(), params, grads, state)
        if plan.kernel is not None:
            plan.run(t)
            return
    rectified = [rho(beta2, float(t))[1] > 5.0 for beta2 in state.beta2]
    for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True):
        g = weight_decayed(
            p, g, state, lrs=state.lr, weight_decay=state.weight_decay,
            decoupled=state.decoupled_weight_decay, step=t,
        )  # fmt: skip
        update_moments(m, v, g, state, beta1=state.beta1, beta2=state.beta2)
        lr = state._lr.column_at("lr", lr_at, t, p)
        update = m / state._beta1.column_at("bias1", _bias1, t, p) * lr  # (K, *shape)
        if any(rectified):
            adaptive = v.sqrt().add_(state.column("eps", state.eps, p)).reciprocal_()
            adaptive.mul_(state._beta2.column_at("sqrt bias2", _sqrt_bias2, t, p))
            full = update * adaptive * state._beta2.column_at("rect", rectification, t, p)
            update = select_where(rectified, full, update)
        p.add_(update, alpha=-1.0)


def _plan(
    kernel: _native.FusedRadam | None,
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: RAdamState,
) -> Bound:
    """The fused step for these tensors, or (no kernel, or tensors it cannot take) a plan
    that leaves the step to the torch calls."""
    moments = zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True)
    if kernel is None or not fits([list(group) for group in moments]):
        return Bound(moment_tensors(params, grads, state))
    return RadamPlan(
        kernel,
        params,
        grads,
        state,
        bias1=_bias1,
        sqrt_bias2=_sqrt_bias2,
        rectification=rectification,
    )


@cache
def fused_kernel() -> _native.FusedRadam | None:
    """The fused kernel (built on first use, see :mod:`optiscope.optim._native`), if this
    machine has it and it gives, on test numbers, what the torch calls give; else ``None``
    (:func:`fused_unavailable_reason` says why) and the torch calls are used."""
    return _native.checked(_native.load_radam(), _fused_agrees, _FUSED_REASON, "RAdam")


_FUSED_REASON: list[str] = []


def fused_unavailable_reason() -> str | None:
    """Why :func:`fused_kernel` is ``None`` (``None`` when it is not)."""
    return _native.why_unavailable(fused_kernel(), "radam", _FUSED_REASON)


FUSED_CHECK_HPARAMS = (
    # (lr, beta1, beta2, eps, weight_decay, decoupled): lerp's two branches, L2 and decoupled
    # decay (and none) in one group, configs rectified from step 3 (beta2 0.9), from step 6
    # (0.999) and never (0.5) side by side, and the sqrt clamp on and off (eps = 0)
    ((0.001, 0.9, 0.9, 1e-8, 0.0, False),),
    (
        (0.001, 0.9, 0.999, 1e-8, 0.01, False),
        (1.0, 0.3, 0.9, 1e-6, 0.1, True),
        (0.01, 0.5, 0.5, 1e-8, 0.0, True),
    ),
    (
        (0.001, 0.9, 0.9, 1e-8, 0.01, True),
        (0.1, 0.3, 0.9, 0.0, 0.3, False),
    ),
)


def _fused_agrees(kernel: _native.FusedRadam) -> bool:
    """Whether the kernel's steps equal the torch calls' (parameters and moments) on numbers
    of mixed magnitudes with zeros and subnormals, for every group of
    :data:`FUSED_CHECK_HPARAMS`, over 7 steps (past every rectification threshold above)
    and a length that is not a whole number of vectors."""
    groups = []
    for group in FUSED_CHECK_HPARAMS:
        hparams = [
            RADAM.complete(
                {
                    "lr": lr,
                    "betas": (beta1, beta2),
                    "eps": eps,
                    "weight_decay": wd,
                    "decoupled_weight_decay": decoupled,
                }
            )
            for lr, beta1, beta2, eps, wd, decoupled in group
        ]
        groups.append(hparams)
    return fused_agrees(
        kernel, groups, init_radam_state, _plan, radam_step, moment_tensors, steps=7
    )


def _bias1(beta1: float, t: float) -> float:
    return float(1 - beta1**t)


def _sqrt_bias2(beta2: float, t: float) -> float:
    return float((1 - beta2**t) ** 0.5)


def radam_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One RAdam step of one config, as ``torch.optim.RAdam``'s single-tensor path writes it.

    Args:
        params: one config's parameters, updated in place.
        grads: their gradients.
        state: this function's state (step count, moments), empty at first.
        hparams: validated hyperparameters.
    """
    lr, (beta1, beta2), eps = hparams["lr"], hparams["betas"], hparams["eps"]
    weight_decay = hparams["weight_decay"]
    if "moments" not in state:
        state["moments"] = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    state["step"] = state.get("step", 0) + 1
    step = float(state["step"])  # torch reads its float32 step counter as a Python float
    for p, g, (m, v) in zip(params, grads, state["moments"], strict=True):
        g = reference_decayed(p, g, lr, weight_decay, hparams["decoupled_weight_decay"])
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        bias_corrected_exp_avg = m / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            adaptive_lr = (bias_correction2**0.5) / v.sqrt().add_(eps)
            p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
        else:
            p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)


RADAM = OptimizerInfo(
    name="radam",
    title="RAdam",
    torch_class=torch.optim.RAdam,
    summary="Adam whose adaptive step is rectified while the variance estimate is young",
    hparams=(
        HParamSpec("lr", 1e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("betas", (0.9, 0.999), kind="betas", doc="decay of the moment estimates"),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to the denominator"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty (or decoupled decay rate)"),
        HParamSpec("decoupled_weight_decay", False, kind="bool", doc="decay as AdamW, not as L2"),
    ),
    init_state=init_radam_state,
    step=radam_step,
    reference_step=radam_reference_step,
)
