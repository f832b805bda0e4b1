r"""Adam (Kingma & Ba, https://arxiv.org/abs/1412.6980); weight decay is L2, added to the gradient.

.. math::

    g &\leftarrow g + \lambda p \\
    m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
    v &\leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
    \hat m &= m / (1 - \beta_1^t), \quad \hat v = v / (1 - \beta_2^t) \\
    p &\leftarrow p - \text{lr} \, \hat m / (\sqrt{\hat v} + \epsilon)

The reference is ``torch.optim.Adam`` (single-tensor path). The vectorized update below is
shared with AdamW (``decoupled=True``), as torch shares it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from optiscope.optim._base import (
    Distinct,
    HParamSpec,
    OptimizerInfo,
    config_column,
    select_where,
)

__all__ = ["ADAM", "AdamState", "adam_step", "init_adam_state"]

# sqrt of a subnormal float is about 24x slower than of a normal one on x86. Where the second
# moment is below FLT_MIN, sqrt(v) / sqrt(1 - beta2^t) is far below half an ulp of eps, so
# `denom` rounds to exactly eps whether v or FLT_MIN goes into the sqrt: clamping changes no
# bit. `AdamState.clamp_is_exact` checks that bound for every config before clamping.
_FLT_MIN = float(torch.finfo(torch.float32).tiny)
_SQRT_FLT_MIN = _FLT_MIN**0.5


@dataclass
class AdamState:
    """State of K Adam or AdamW configs that step in lockstep.

    Attributes:
        exp_avg: first moments ``m``, one per parameter.  # (K, *param_shape)
        exp_avg_sq: second moments ``v``, one per parameter.  # (K, *param_shape)
        lr, beta1, beta2, eps, weight_decay: per-config hyperparameters, K Python floats each
            (kept as doubles: torch computes its scalars from them in double precision).
        step: steps taken so far (the same for all K).
    """

    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: tuple[float, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    step: int = 0
    _columns: dict[tuple[str, int], Tensor] = field(default_factory=dict, repr=False)
    _clamp_from: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._step_size = Distinct(list(zip(self.lr, self.beta1, strict=True)))
        self._bias2 = Distinct(list(zip(self.beta2, self.eps, strict=True)))
        self._has_decay = [wd != 0 for wd in self.weight_decay]
        self._constants: dict[str, list[float]] = {
            "decay": [1 - lr * wd for lr, wd in zip(self.lr, self.weight_decay, strict=True)],
            "weight_decay": list(self.weight_decay),
            "1-beta1": [1 - b for b in self.beta1],
            "beta2": list(self.beta2),
            "1-beta2": [1 - b for b in self.beta2],
            "eps": list(self.eps),
        }

    def constant(self, name: str, like: Tensor) -> Tensor:
        """A cached float32 column ``(K, 1, ...)`` of a per-config constant."""
        key = (name, like.dim())
        if key not in self._columns:
            self._columns[key] = config_column(self._constants[name], like)
        return self._columns[key]

    def clamp_is_exact(self, t: float) -> bool:
        """Whether clamping ``v`` at FLT_MIN before the sqrt leaves every ``denom`` unchanged.

        Needs ``sqrt(FLT_MIN) / sqrt(1 - beta2^t)`` below half an ulp of ``eps`` (at least
        ``eps * 2**-25`` for a normal float), with a factor 4 to spare for the roundings. The
        left side shrinks as ``t`` grows, so once true it stays true.
        """
        if self._clamp_from is None and all(
            eps >= _FLT_MIN and 4 * _SQRT_FLT_MIN / (1 - beta2**t) ** 0.5 < eps * 2.0**-25
            for beta2, eps in self._bias2.values
        ):
            self._clamp_from = int(t)
        return self._clamp_from is not None and t >= self._clamp_from


def init_adam_state(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> AdamState:
    """Zero moments for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts (``lr``, ``betas``, ``eps``,
            ``weight_decay``), in the order of the stacked axis.
    """
    _check_k(params, hparams)
    return AdamState(
        exp_avg=[torch.zeros_like(p) for p in params],
        exp_avg_sq=[torch.zeros_like(p) for p in params],
        lr=tuple(float(h["lr"]) for h in hparams),
        beta1=tuple(float(h["betas"][0]) for h in hparams),
        beta2=tuple(float(h["betas"][1]) for h in hparams),
        eps=tuple(float(h["eps"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
    )


def adam_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: AdamState,
    *,
    decoupled: bool = False,
) -> None:
    """One Adam (or AdamW, ``decoupled=True``) step of K configs, in place.

    Op for op what ``torch.optim.Adam``'s single-tensor path does on each config::

        p.mul_(1 - lr * wd)                    # AdamW only
        g = g.add(p, alpha=wd)                 # Adam only, where wd != 0
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (v.sqrt() / sqrt(1 - beta2**t)).add_(eps)
        p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))

    with every Python scalar replaced by a per-config column. ``addcmul_(g, g, value=c)``
    becomes ``addcmul_(g * c, g)`` and ``addcdiv_(m, d, value=s)`` becomes
    ``addcdiv_(m * s, d)``: torch's kernels form ``value * t1`` first, so both round the same.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_adam_state`.
        decoupled: AdamW's decoupled weight decay instead of Adam's L2 term.
    """
    state.step += 1
    t = float(state.step)  # torch reads its step counter back as a Python float
    clamp = state.clamp_is_exact(t)
    if len(state.lr) == 1:  # one config: torch's own calls, with Python scalars
        _adam_step_one(params, grads, state, t, clamp=clamp, decoupled=decoupled)
        return
    per_step: dict[tuple[str, int], Tensor] = {}
    for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True):
        rank = p.dim()
        if ("step_size", rank) not in per_step:
            per_step["step_size", rank] = state._step_size.column(
                lambda lr_b1: -(lr_b1[0] / (1 - lr_b1[1] ** t)), p
            )
            per_step["bias2", rank] = state._bias2.column(
                lambda b2_eps: (1 - b2_eps[0] ** t) ** 0.5, p
            )
        if decoupled:
            p.mul_(state.constant("decay", p))  # (K, *shape); 1.0 leaves p as it is
        elif any(state._has_decay):
            wd = state.constant("weight_decay", p)
            g = select_where(state._has_decay, torch.addcmul(g, p, wd), g)  # FMA, as add(alpha=)
        m.lerp_(g, state.constant("1-beta1", p))
        v.mul_(state.constant("beta2", p)).addcmul_(g * state.constant("1-beta2", p), g)
        root = v.clamp_min(_FLT_MIN).sqrt_() if clamp else v.sqrt()
        denom = root.div_(per_step["bias2", rank]).add_(state.constant("eps", p))
        p.addcdiv_(m * per_step["step_size", rank], denom)


def _adam_step_one(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: AdamState,
    t: float,
    *,
    clamp: bool,
    decoupled: bool,
) -> None:
    """:func:`adam_step` for K = 1: the same update with scalars instead of columns."""
    lr, beta1, beta2 = state.lr[0], state.beta1[0], state.beta2[0]
    eps, weight_decay = state.eps[0], state.weight_decay[0]
    step_size = lr / (1 - beta1**t)
    bias2_sqrt = (1 - beta2**t) ** 0.5
    for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True):
        if weight_decay != 0:
            if decoupled:
                p.mul_(1 - lr * weight_decay)
            else:
                g = g.add(p, alpha=weight_decay)
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        root = v.clamp_min(_FLT_MIN).sqrt_() if clamp else v.sqrt()
        p.addcdiv_(m, root.div_(bias2_sqrt).add_(eps), value=-step_size)


def _check_k(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> None:
    sizes = {int(p.shape[0]) for p in params}
    if sizes != {len(hparams)}:
        raise ValueError(
            f"stacked parameters have leading sizes {sorted(sizes)} but {len(hparams)} "
            "hyperparameter sets were given; stack one slice per config."
        )


def _adam_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: AdamState) -> None:
    adam_step(params, grads, state, decoupled=False)


ADAM = OptimizerInfo(
    name="adam",
    title="Adam",
    torch_class=torch.optim.Adam,
    summary="Adam; weight decay as an L2 term in the gradient",
    hparams=(
        HParamSpec("lr", 1e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("betas", (0.9, 0.999), kind="betas", doc="decay of the moment estimates"),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to the denominator"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
    ),
    init_state=init_adam_state,
    step=_adam_step,
)
