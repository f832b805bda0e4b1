r"""NAdam: Adam with Nesterov momentum (Dozat, https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ).

With ``g`` the gradient (plus ``λ p`` for L2 decay, or ``p ← p (1 - lr λ)`` first when the
decay is decoupled), and the momentum schedule
:math:`\mu_t = \beta_1 (1 - \tfrac12 \, 0.96^{t \psi})` (``ψ = momentum_decay``):

.. math::

    m &\leftarrow \beta_1 m + (1 - \beta_1) g, \quad
    v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
    d &= \sqrt{v / (1 - \beta_2^t)} + \epsilon \\
    p &\leftarrow p - \text{lr} \, \frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i} \, \frac{g}{d}
      - \text{lr} \, \frac{\mu_{t+1}}{1 - \prod_{i \le t+1} \mu_i} \, \frac{m}{d}

The reference is ``torch.optim.NAdam`` (single-tensor path). Torch keeps the running product
of the :math:`\mu_i` in a float32 tensor (``state["mu_product"]``), rounded at every step,
and reads it back as a Python float for its step scalars: the vectorized update does the
same, once per distinct ``(beta1, momentum_decay)``.
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
    update_moments,
    weight_decayed,
)
from optiscope.optim._fused_plan import (
    Bound,
    fits,
    fused_agrees,
    moment_tensors,
)
from optiscope.optim._nadam_fused import NadamPlan, bias2

__all__ = ["NADAM", "NAdamState", "init_nadam_state", "nadam_reference_step", "nadam_step"]


class MuProducts:
    """``prod_{i <= t} mu_i`` for one ``(beta1, momentum_decay)``, as torch's float32
    ``mu_product`` tensor holds it after step ``t`` (extended on demand)."""

    def __init__(self, beta1: float, momentum_decay: float) -> None:
        self.beta1, self.momentum_decay = beta1, momentum_decay
        self._product = torch.ones((), dtype=torch.float32)
        self._values: list[float] = []  # after steps 1, 2, ...

    def mu(self, t: float) -> float:
        """:math:`\\mu_t`, in Python doubles as torch computes it."""
        return float(self.beta1 * (1.0 - 0.5 * (0.96 ** (t * self.momentum_decay))))

    def at(self, t: float) -> float:
        """The product after step ``t`` (counting from 1), as a Python float."""
        while len(self._values) < int(t):
            self._product *= self.mu(float(len(self._values) + 1))  # torch's `mu_product *= mu`
            self._values.append(self._product.item())
        return self._values[int(t) - 1]


@dataclass
class NAdamState(ColumnCache):
    """State of K NAdam configs that step in lockstep.

    Attributes:
        exp_avg: first moments ``m``, one per parameter.  # (K, *param_shape)
        exp_avg_sq: second moments ``v``, one per parameter.  # (K, *param_shape)
        lr: per-config lrs (Python floats, or :class:`StepLrs` read at each step).
        beta1, beta2, eps, weight_decay, momentum_decay: per-config hyperparameters.
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
    momentum_decay: tuple[float, ...]
    decoupled_weight_decay: tuple[bool, ...]
    step: int = 0
    products: dict[tuple[float, float], MuProducts] = field(default_factory=dict, repr=False)
    fused: bool = True
    _plan: Bound | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for key in zip(self.beta1, self.momentum_decay, strict=True):
            self.products.setdefault(key, MuProducts(*key))
        coefficients: list[Hashable] = list(
            zip(self.lr, self.beta1, self.momentum_decay, strict=True)
        )
        self._coefficients = Distinct(coefficients)
        self._bias2 = Distinct(list(self.beta2))

    def grad_coefficient(self, key: tuple[Lr, float, float], t: float) -> float:
        """``-lr * (1 - mu_t) / (1 - mu_product_t)``: torch's ``value`` for ``g / d``."""
        lr, beta1, momentum_decay = key
        products = self.products[(beta1, momentum_decay)]
        return -lr_at(lr, t) * (1.0 - products.mu(t)) / (1.0 - products.at(t))

    def avg_coefficient(self, key: tuple[Lr, float, float], t: float) -> float:
        """``(-lr * mu_{t+1}) / (1 - mu_product_t * mu_{t+1})``: torch's ``value`` for
        ``m / d`` (the next product in doubles, from the float32 one)."""
        lr, beta1, momentum_decay = key
        products = self.products[(beta1, momentum_decay)]
        mu_next = products.mu(t + 1)
        return (-lr_at(lr, t) * mu_next) / (1.0 - products.at(t) * mu_next)


def init_nadam_state(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> NAdamState:
    """Zero moments for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts, in the order of the stacked axis.
    """
    check_stacked(params, hparams)
    return NAdamState(
        exp_avg=[torch.zeros_like(p) for p in params],
        exp_avg_sq=[torch.zeros_like(p) for p in params],
        lr=lrs_of(hparams),
        beta1=tuple(float(h["betas"][0]) for h in hparams),
        beta2=tuple(float(h["betas"][1]) for h in hparams),
        eps=tuple(float(h["eps"]) for h in hparams),
        weight_decay=tuple(float(h["weight_decay"]) for h in hparams),
        momentum_decay=tuple(float(h["momentum_decay"]) for h in hparams),
        decoupled_weight_decay=tuple(bool(h["decoupled_weight_decay"]) for h in hparams),
    )


@torch.no_grad()
def nadam_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: NAdamState) -> None:
    """One NAdam step of K configs, in place.

    Op for op what ``torch.optim.NAdam``'s single-tensor path does on each config::

        p.mul_(1 - lr * wd)  or  g = g.add(p, alpha=wd)      # where wd != 0
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        d = v.div(1 - beta2**t).sqrt().add_(eps)
        p.addcdiv_(g, d, value=-lr * (1 - mu) / (1 - mu_product))
        p.addcdiv_(m, d, value=(-lr * mu_next) / (1 - mu_product * mu_next))

    with the Python scalars as per-config columns (``addcmul_(g, g, value=c)`` as
    ``addcmul_(g * c, g)``, ``addcdiv_(x, d, value=c)`` as ``addcdiv_(x * c, d)``: torch's
    kernels form ``value * t1`` first, so both round the same), or as the Python scalars
    themselves where every config has the same.

    On the CPU these calls run as one pass of a fused kernel where it is available
    (:func:`fused_kernel`; ``state.fused = False`` keeps the calls): the same operations on
    each element, in the same order, with torch's own square root.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_nadam_state`.
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
    for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True):
        g = weight_decayed(
            p, g, state, lrs=state.lr, weight_decay=state.weight_decay,
            decoupled=state.decoupled_weight_decay, step=t,
        )  # fmt: skip
        update_moments(m, v, g, state, beta1=state.beta1, beta2=state.beta2)
        correction = state._bias2.column_at("bias2", bias2, t, p)
        denom = v.div(correction).sqrt_().add_(state.column("eps", state.eps, p))  # (K, *shape)
        for x, name, fn in (
            (g, "grad", state.grad_coefficient),
            (m, "avg", state.avg_coefficient),
        ):
            value = state._coefficients.column_at(name, fn, t, p)
            if isinstance(value, float):
                p.addcdiv_(x, denom, value=value)
            else:
                p.addcdiv_(x * value, denom)


def _plan(
    kernel: _native.FusedNadam | None,
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: NAdamState,
) -> Bound:
    """The fused step for these tensors, or (no kernel, or tensors it cannot take) a plan
    that leaves the step to the torch calls."""
    moments = zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True)
    if kernel is None or not fits([list(group) for group in moments]):
        return Bound(moment_tensors(params, grads, state))
    return NadamPlan(kernel, params, grads, state)


@cache
def fused_kernel() -> _native.FusedNadam | None:
    """The fused kernel (built on first use, see :mod:`optiscope.optim._native`), if this
    machine has it and it gives, on test numbers, what the torch calls give; else ``None``
    (:func:`fused_unavailable_reason` says why) and the torch calls are used."""
    return _native.checked(_native.load_nadam(), _fused_agrees, _FUSED_REASON, "NAdam")


_FUSED_REASON: list[str] = []


def fused_unavailable_reason() -> str | None:
    """Why :func:`fused_kernel` is ``None`` (``None`` when it is not)."""
    return _native.why_unavailable(fused_kernel(), "nadam", _FUSED_REASON)


FUSED_CHECK_HPARAMS = (
    # (lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled): lerp's two branches,
    # L2 and decoupled decay (and none) in one group, and the sqrt clamp on and off (eps = 0)
    ((0.002, 0.9, 0.999, 1e-8, 0.0, 4e-3, False),),
    (
        (0.002, 0.9, 0.999, 1e-8, 0.01, 4e-3, False),
        (1.0, 0.3, 0.99, 1e-6, 0.1, 0.1, True),
        (0.01, 0.5, 0.9, 1e-8, 0.0, 4e-3, True),
    ),
    (
        (0.002, 0.9, 0.999, 1e-8, 0.01, 4e-3, True),
        (0.1, 0.3, 0.5, 0.0, 0.3, 0.0, False),
    ),
)


def _fused_agrees(kernel: _native.FusedNadam) -> bool:
    """Whether the kernel's steps equal the torch calls' (parameters and moments) on numbers
    of mixed magnitudes with zeros and subnormals, for every group of
    :data:`FUSED_CHECK_HPARAMS`, over a length that is not a whole number of vectors."""
    names = ("lr", "beta1", "beta2", "eps", "weight_decay", "momentum_decay", "decoupled")
    groups = []
    for group in FUSED_CHECK_HPARAMS:
        hparams = []
        for values in group:
            h = dict(zip(names, values, strict=True))
            hparams.append(
                NADAM.complete(
                    {
                        "lr": h["lr"],
                        "betas": (h["beta1"], h["beta2"]),
                        "eps": h["eps"],
                        "weight_decay": h["weight_decay"],
                        "momentum_decay": h["momentum_decay"],
                        "decoupled_weight_decay": h["decoupled"],
                    }
                )
            )
        groups.append(hparams)
    return fused_agrees(kernel, groups, init_nadam_state, _plan, nadam_step, moment_tensors)


def nadam_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One NAdam step of one config, as ``torch.optim.NAdam``'s single-tensor path writes it.

    Args:
        params: one config's parameters, updated in place.
        grads: their gradients.
        state: this function's state (step count, ``mu_product``, moments), empty at first.
        hparams: validated hyperparameters.
    """
    lr, (beta1, beta2), eps = hparams["lr"], hparams["betas"], hparams["eps"]
    weight_decay, momentum_decay = hparams["weight_decay"], hparams["momentum_decay"]
    if "moments" not in state:
        state["moments"] = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        state["mu_product"] = [torch.ones((), dtype=torch.float32) for _ in params]
    state["step"] = state.get("step", 0) + 1
    step = float(state["step"])  # torch reads its float32 step counter as a Python float
    for p, g, (m, v), mu_product in zip(
        params, grads, state["moments"], state["mu_product"], strict=True
    ):
        bias_correction2 = 1 - beta2**step
        g = reference_decayed(p, g, lr, weight_decay, hparams["decoupled_weight_decay"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product *= mu
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = v.div(bias_correction2).sqrt()
        mu_product_next = mu_product.item() * mu_next
        denom.add_(eps)
        p.addcdiv_(g, denom, value=(-lr * (1.0 - mu) / (1.0 - mu_product.item())))
        p.addcdiv_(m, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))


NADAM = OptimizerInfo(
    name="nadam",
    title="NAdam",
    torch_class=torch.optim.NAdam,
    summary="Adam with Nesterov momentum and a momentum warmup (momentum_decay)",
    hparams=(
        HParamSpec("lr", 2e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("betas", (0.9, 0.999), kind="betas", doc="decay of the moment estimates"),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to the denominator"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty (or decoupled decay rate)"),
        HParamSpec("momentum_decay", 4e-3, low=0.0, doc="psi of the momentum schedule"),
        HParamSpec("decoupled_weight_decay", False, kind="bool", doc="decay as AdamW, not as L2"),
    ),
    init_state=init_nadam_state,
    step=nadam_step,
    reference_step=nadam_reference_step,
)
