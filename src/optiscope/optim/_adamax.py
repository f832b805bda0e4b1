r"""Adamax: Adam with the infinity norm (Kingma & Ba, https://arxiv.org/abs/1412.6980, sec. 7).

With ``g`` the gradient plus ``λ p`` (L2 weight decay):

.. math::

    m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
    u &\leftarrow \max(\beta_2 u, |g| + \epsilon) \\
    p &\leftarrow p - \frac{\text{lr}}{1 - \beta_1^t} \, \frac{m}{u}

The reference is ``torch.optim.Adamax`` (single-tensor path).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optiscope.optim._base import (
    ColumnCache,
    Distinct,
    HParamSpec,
    Lr,
    OptimizerInfo,
    check_stacked,
    lr_at,
    lrs_of,
    select_where,
)

__all__ = ["ADAMAX", "AdamaxState", "adamax_reference_step", "adamax_step", "init_adamax_state"]


@dataclass
class AdamaxState(ColumnCache):
    """State of K Adamax configs that step in lockstep.

    Attributes:
        exp_avg: first moments ``m``, one per parameter.  # (K, *param_shape)
        exp_inf: the decayed infinity norms ``u``, one per parameter.  # (K, *param_shape)
        lr: per-config lrs (Python floats, or :class:`StepLrs` read at each step).
        beta1, beta2, eps, weight_decay: per-config hyperparameters (K Python floats).
        step: steps taken so far (the same for all K).
    """

    exp_avg: list[Tensor]
    exp_inf: list[Tensor]
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    step: int = 0

    def __post_init__(self) -> None:
        keys: list[Hashable] = list(zip(self.lr, self.beta1, strict=True))
        self._step_size = Distinct(keys)


def init_adamax_state(
    params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]
) -> AdamaxState:
    """Zero moments and norms for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts, in the order of the stacked axis.
    """
    check_stacked(params, hparams)
    return AdamaxState(
        exp_avg=[torch.zeros_like(p) for p in params],
        exp_inf=[torch.zeros_like(p) for p in params],
        lr=lrs_of(hparams),
        beta1=tuple(float(h["betas"][0]) for h in hparams),
        beta2=tuple(float(h["betas"][1]) for h in hparams),
        eps=tuple(float(h["eps"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
    )


@torch.no_grad()
def adamax_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: AdamaxState) -> None:
    """One Adamax step of K configs, in place.

    Op for op what ``torch.optim.Adamax``'s single-tensor path does on each config::

        g = g.add(p, alpha=wd)                                   # where wd != 0
        m.lerp_(g, 1 - beta1)
        torch.maximum(u.mul_(beta2), g.abs().add_(eps), out=u)
        p.addcdiv_(m, u, value=-lr / (1 - beta1**t))

    with the Python scalars as per-config columns (``addcdiv_(m, u, value=c)`` as
    ``addcdiv_(m * c, u)``: torch's kernel forms ``value * t1`` first, so both round the
    same), or the Python scalar itself where every config has the same step size.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_adamax_state`.
    """
    state.step += 1
    has_decay = [wd != 0 for wd in state.weight_decay]
    for p, g, m, u in zip(params, grads, state.exp_avg, state.exp_inf, strict=True):
        if any(has_decay):
            wd = state.column("weight_decay", state.weight_decay, p)
            g = select_where(has_decay, torch.addcmul(g, p, wd), g)  # (K, *shape)
        m.lerp_(g, state.column("1-beta1", [1 - b for b in state.beta1], p))
        torch.maximum(
            u.mul_(state.column("beta2", state.beta2, p)),
            g.abs().add_(state.column("eps", state.eps, p)),
            out=u,
        )
        neg_clr = state._step_size.column_at("-clr", _neg_step_size, state.step, p)
        if isinstance(neg_clr, float):
            p.addcdiv_(m, u, value=neg_clr)
        else:
            p.addcdiv_(m * neg_clr, u)


def _neg_step_size(lr_beta1: tuple[Lr, float], t: float) -> float:
    return float(-(lr_at(lr_beta1[0], t) / (1 - lr_beta1[1] ** t)))


def adamax_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One Adamax step of one config, as ``torch.optim.Adamax``'s single-tensor path writes it.

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
    for p, g, (m, u) in zip(params, grads, state["moments"], strict=True):
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        m.lerp_(g, 1 - beta1)
        torch.maximum(u.mul_(beta2), g.abs().add_(eps), out=u)
        clr = lr / (1 - beta1**step)
        p.addcdiv_(m, u, value=-clr)


ADAMAX = OptimizerInfo(
    name="adamax",
    title="Adamax",
    torch_class=torch.optim.Adamax,
    summary="Adam with the infinity norm in place of the second moment",
    hparams=(
        HParamSpec("lr", 2e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("betas", (0.9, 0.999), kind="betas", doc="decay of the moment and the norm"),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to |g| before the maximum"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
    ),
    init_state=init_adamax_state,
    step=adamax_step,
    reference_step=adamax_reference_step,
)
