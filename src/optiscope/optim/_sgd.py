r"""SGD with momentum, dampening and Nesterov (Sutskever et al., https://proceedings.mlr.press/v28/sutskever13.html).

With ``g`` the gradient plus ``λ p`` (L2 weight decay) and buffer ``b`` (``b = g`` at the
first step):

.. math::

    b &\leftarrow \mu b + (1 - \tau) g \\
    d &= g + \mu b \text{ (nesterov) or } b \\
    p &\leftarrow p - \text{lr} \, d

The reference is ``torch.optim.SGD`` (single-tensor path); with ``momentum = 0`` it keeps no
buffer and steps along ``g`` itself, whatever ``dampening`` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optiscope.optim._base import (
    ColumnCache,
    HParamSpec,
    Lr,
    OptimizerInfo,
    lrs_of,
    select_where,
)

__all__ = ["SGD", "SGDState", "init_sgd_state", "sgd_reference_step", "sgd_step"]


def _nesterov_checks(values: Mapping[str, Any]) -> list[str]:
    if values["nesterov"] and (values["momentum"] <= 0 or values["dampening"] != 0):
        return [
            "`nesterov` = True needs momentum > 0 and dampening = 0 "
            f"(got momentum = {values['momentum']!r}, dampening = {values['dampening']!r})"
        ]
    return []


@dataclass
class SGDState(ColumnCache):
    """State of K SGD configs that step in lockstep.

    Attributes:
        momentum_buffer: ``b`` per parameter, ``None`` before the first step or when no
            config uses momentum.  # (K, *param_shape)
        lr: per-config lrs (Python floats, or :class:`StepLrs` read at each step).
        momentum, dampening, weight_decay: per-config hyperparameters (K Python floats).
        nesterov: per-config Nesterov flags.
        step: steps taken so far.
        columns: float32 per-config columns ``(K, 1, ...)``, cached by name and rank.
    """

    momentum_buffer: list[Tensor | None]
    lr: tuple[Lr, ...]
    momentum: tuple[float, ...]
    dampening: tuple[float, ...]
    weight_decay: tuple[float, ...]
    nesterov: tuple[bool, ...]
    step: int = 0


def init_sgd_state(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> SGDState:
    """Empty momentum buffers for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts, in the order of the stacked axis.
    """
    sizes = {int(p.shape[0]) for p in params}
    if sizes != {len(hparams)}:
        raise ValueError(
            f"stacked parameters have leading sizes {sorted(sizes)} but {len(hparams)} "
            "hyperparameter sets were given; stack one slice per config."
        )
    return SGDState(
        momentum_buffer=[None] * len(params),
        lr=lrs_of(hparams),
        momentum=tuple(float(h["momentum"]) for h in hparams),
        dampening=tuple(float(h["dampening"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
        nesterov=tuple(bool(h["nesterov"]) for h in hparams),
    )


def sgd_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: SGDState) -> None:
    """One SGD step of K configs, in place.

    Op for op what ``torch.optim.SGD``'s single-tensor path does on each config::

        g = g.add(p, alpha=wd)                       # where wd != 0
        b = g.clone()  (first step)  or  b.mul_(mu).add_(g, alpha=1 - tau)
        d = g.add(b, alpha=mu) (nesterov)  or  b     # where mu != 0, else d = g
        p.add_(d, alpha=-lr)

    ``x.add(y, alpha=a)`` is one fused multiply-add in torch's kernel, as is
    ``torch.addcmul(x, y, a_column)``, so the per-config form rounds the same.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_sgd_state`.
    """
    state.step += 1
    has_decay = state.flags("has_decay", lambda: [wd != 0 for wd in state.weight_decay])
    has_momentum = state.flags("has_momentum", lambda: [mu != 0 for mu in state.momentum])
    nesterov = state.flags("nesterov", lambda: state.nesterov)
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if has_decay.any:
            wd = state.column("weight_decay", state.weight_decay, p)
            g = select_where(has_decay, torch.addcmul(g, p, wd), g)  # (K, *shape)
        if has_momentum.any:
            buf = state.momentum_buffer[i]
            if buf is None:
                buf = g.detach().clone()
                state.momentum_buffer[i] = buf
            else:
                buf.mul_(state.column("momentum", state.momentum, p))
                buf.addcmul_(
                    g, state.column("1-dampening", lambda: [1 - d for d in state.dampening], p)
                )
            if nesterov.any:
                mu = state.column("momentum", state.momentum, p)
                step_along = select_where(nesterov, torch.addcmul(g, buf, mu), buf)
            else:
                step_along = buf
            step_along = select_where(has_momentum, step_along, g)
        else:
            step_along = g
        neg_lr = state.lr_column("-lr", state.lr, _negative, state.step, p)
        if isinstance(neg_lr, float):  # every config has this lr now: torch's own call
            p.add_(step_along, alpha=neg_lr)
        else:
            p.addcmul_(step_along, neg_lr)


def _negative(lr: float) -> float:
    return -lr


def sgd_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One SGD step of one config, as ``torch.optim.SGD``'s single-tensor path writes it.

    Args:
        params: one config's parameters, updated in place.
        grads: their gradients.
        state: this function's state (momentum buffers), empty before the first step.
        hparams: validated hyperparameters.
    """
    lr, momentum, dampening = hparams["lr"], hparams["momentum"], hparams["dampening"]
    weight_decay, nesterov = hparams["weight_decay"], hparams["nesterov"]
    buffers: list[Tensor | None] = state.setdefault("momentum_buffer", [None] * len(params))
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        if momentum != 0:
            buffer = buffers[i]
            if buffer is None:
                buffer = buffers[i] = torch.clone(g).detach()
            else:
                buffer.mul_(momentum).add_(g, alpha=1 - dampening)
            g = g.add(buffer, alpha=momentum) if nesterov else buffer
        p.add_(g, alpha=-lr)


SGD = OptimizerInfo(
    name="sgd",
    title="SGD",
    torch_class=torch.optim.SGD,
    summary="stochastic gradient descent with optional momentum, dampening, Nesterov",
    hparams=(
        HParamSpec("lr", 1e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("momentum", 0.0, low=0.0, high=1.0, high_open=True, doc="momentum factor"),
        HParamSpec("dampening", 0.0, low=0.0, high=1.0, doc="dampening of the momentum input"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
        HParamSpec("nesterov", False, kind="bool", doc="Nesterov momentum"),
    ),
    extra_checks=_nesterov_checks,
    init_state=init_sgd_state,
    step=sgd_step,
    reference_step=sgd_reference_step,
)
