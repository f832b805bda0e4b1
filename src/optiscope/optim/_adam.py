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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optiscope.optim import _native
from optiscope.optim._adam_fused import FusedPlan, fits
from optiscope.optim._base import (
    Distinct,
    HParamSpec,
    Lr,
    OptimizerInfo,
    StepLrs,
    config_column,
    lr_at,
    lrs_of,
    reference_decayed,
)
from optiscope.optim._fused_plan import mixed

__all__ = ["ADAM", "AdamState", "adam_reference_step", "adam_step", "init_adam_state"]

FLT_MIN = float(torch.finfo(torch.float32).tiny)
"""The smallest normal float32. ``sqrt`` of zero or of a subnormal is slow on some CPUs (on
the AMD EPYC these notes were measured on, ``sqrt`` of a zero runs 6x and of a subnormal 40x
slower than of a normal number); second moments are often exactly zero (dead units, padding),
so the denominator is computed from ``max(v, FLT_MIN)`` wherever that is provably exact."""


@dataclass
class AdamState:
    """State of K Adam or AdamW configs that step in lockstep.

    Attributes:
        exp_avg: first moments ``m``, one per parameter.  # (K, *param_shape)
        exp_avg_sq: second moments ``v``, one per parameter.  # (K, *param_shape)
        lr, beta1, beta2, eps, weight_decay: per-config hyperparameters, K Python floats each
            (kept as doubles: torch computes its scalars from them in double precision); an
            ``lr`` may be a :class:`StepLrs`, read at each step.
        step: steps taken so far (the same for all K).
        fused: take the fused kernel where it is available (:func:`fused_kernel`): one pass
            over memory instead of about a dozen torch calls, the same numbers; ``False``
            keeps the torch calls.
    """

    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    step: int = 0
    fused: bool = True
    _columns: dict[tuple[str, int], Tensor | float] = field(default_factory=dict, repr=False)
    _plan: _Plan | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._derive()

    def _derive(self) -> None:
        """The values the torch calls take from the hyperparameters (again after ``lr``
        was replaced: see :func:`adam_step`)."""
        self._derived_lr = self.lr
        self._columns.clear()
        self._step_size = Distinct(list(zip(self.lr, self.beta1, strict=True)))
        self._bias2 = Distinct(list(zip(self.beta2, self.eps, strict=True)))
        self._has_decay = [wd != 0 for wd in self.weight_decay]
        self._any_decay = any(self._has_decay)
        self._scheduled = any(isinstance(lr, StepLrs) for lr in self.lr)
        # AdamW's decay factor 1 - lr * wd: per step for a scheduled lr
        self._decay = Distinct(list(zip(self.lr, self.weight_decay, strict=True)))
        self._constants: dict[str, list[float]] = {
            "decay": []
            if self._scheduled
            else [1 - lr * wd for lr, wd in zip(self.lr, self.weight_decay, strict=True)],  # type: ignore[operator]
            "weight_decay": list(self.weight_decay),
            "1-beta1": [1 - b for b in self.beta1],
            "beta2": list(self.beta2),
            "1-beta2": [1 - b for b in self.beta2],
            "eps": list(self.eps),
        }

    def constant(self, name: str, like: Tensor) -> Tensor | float:
        """A per-config constant: a cached float32 column ``(K, 1, ...)``, or the Python
        float itself when every config has the same value (one pass fewer here and there,
        and exactly torch's call)."""
        key = (name, like.dim())
        column = self._columns.get(key)
        if column is None:
            values = self._constants[name]
            column = values[0] if len(set(values)) == 1 else config_column(values, like)
            self._columns[key] = column
        return column

    def factor(self, name: str, like: Tensor) -> Tensor | float:
        """A per-config constant as a multiplier for ``like``: the column, or for a shared
        value on the CPU a 0-dim CPU tensor. Torch's CPU kernels read a 0-dim CPU tensor as
        they read a Python scalar (the same float32 value, the same kernel), and a call with
        one costs about 2.5 us less than with a Python float, which torch wraps into a
        tensor each time. On other devices a shared value stays the Python float torch
        passes (CUDA kernels treat a CPU scalar specially: see :func:`_divide_per_step`)."""
        value = self.constant(name, like)
        if isinstance(value, float) and like.device.type == "cpu":
            return torch.tensor(value, dtype=like.dtype)
        return value


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
        lr=lrs_of(hparams),
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

    On the CPU these calls run as one pass of a fused kernel where it is available
    (:func:`fused_kernel`; ``state.fused = False`` keeps the calls): the same operations on
    each element, in the same order, with torch's own square root.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_adam_state`.
        decoupled: AdamW's decoupled weight decay instead of Adam's L2 term.
    """
    state.step += 1
    plan = state._plan
    if plan is not None and plan.fused is None and state.lr is not state._derived_lr:
        state._derive()  # a new lr: the torch calls' scalars are bound, bind them again
        plan = None
    if plan is None or not plan.binds(params, grads, decoupled):
        kernel = fused_kernel() if state.fused else None
        plan = state._plan = _Plan(params, grads, state, decoupled, kernel=kernel)
    plan.run(state.step)


class _Plan:
    """One step's calls, bound once to the parameters, gradients and state (a step then only
    refreshes the two per-step scalars and makes the calls: no Python decisions per step).

    Two work buffers per parameter (three for Adam's L2 term) are reused every step.
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: AdamState,
        decoupled: bool,
        *,
        kernel: _native.FusedAdam | None,
    ) -> None:
        self.state, self.decoupled = state, decoupled
        if state.lr is not state._derived_lr:
            state._derive()
        # (the fused kernel keeps their addresses: a state whose moments were replaced
        # gets a new plan, see binds)
        self._tensors = [*params, *grads, *state.exp_avg, *state.exp_avg_sq]
        self.calls: list[Callable[[], object]] = []
        self.refresh: list[Callable[[int], object]] = []
        self.fused: FusedPlan | None = None
        moments = (state.exp_avg, state.exp_avg_sq)
        if kernel is not None and fits((params, grads, *moments), state, decoupled):
            clamp = _clamp_is_exact(state.beta2, state.eps)
            self.fused = FusedPlan(
                kernel, params, grads, *moments, state, decoupled=decoupled, clamp=clamp
            )
            return
        for p, g, m, v in zip(params, grads, *moments, strict=True):
            self._bind(p, g, m, v)

    def binds(self, params: Sequence[Tensor], grads: Sequence[Tensor], decoupled: bool) -> bool:
        """Whether this plan was bound to these tensors (and the state's moments)."""
        bound, n, state = self._tensors, len(params), self.state
        if decoupled != self.decoupled or len(bound) != 4 * n:
            return False
        if len(grads) != n or len(state.exp_avg) != n or len(state.exp_avg_sq) != n:
            return False
        for i in range(n):  # (checked every step: no lists built, no generator)
            if (
                params[i] is not bound[i]
                or grads[i] is not bound[n + i]
                or state.exp_avg[i] is not bound[2 * n + i]
                or state.exp_avg_sq[i] is not bound[3 * n + i]
            ):
                return False
        return True

    def run(self, t: int) -> None:
        if self.fused is not None:
            self.fused.run(t)
            return
        for refresh in self.refresh:
            refresh(t)
        for call in self.calls:
            call()

    def _bind(self, p: Tensor, g: Tensor, m: Tensor, v: Tensor) -> None:
        state, calls = self.state, self.calls
        work, denom = torch.empty_like(p), torch.empty_like(p)
        if self.decoupled:
            if state._scheduled and state._any_decay:  # 1 - lr_t * wd, refreshed each step
                calls.append(partial(p.mul_, self._per_step("decay", state._decay, _decay, p)))
            elif any(d != 1.0 for d in state._constants["decay"]):  # x * 1.0 is x: skip it
                calls.append(partial(p.mul_, state.factor("decay", p)))  # (K, *shape)
        elif state._any_decay:
            decayed = torch.empty_like(p)
            wd = state.constant("weight_decay", p)
            if isinstance(wd, float):  # one FMA per element, either way
                calls.append(partial(torch.add, g, p, alpha=wd, out=decayed))
            else:
                calls.append(partial(torch.addcmul, g, p, wd, out=decayed))
            if not all(state._has_decay):  # torch skips the term where wd == 0
                mask = torch.tensor(state._has_decay, device=p.device)
                mask = mask.view(-1, *([1] * (p.dim() - 1)))
                calls.append(partial(torch.where, mask, decayed, g, out=decayed))
            g = decayed
        calls.append(partial(m.lerp_, g, state.factor("1-beta1", p)))
        calls.append(partial(v.mul_, state.factor("beta2", p)))
        one_minus_beta2 = state.constant("1-beta2", p)
        if isinstance(one_minus_beta2, float):
            calls.append(partial(v.addcmul_, g, g, value=one_minus_beta2))
        else:
            calls.append(partial(torch.mul, g, one_minus_beta2, out=work))
            calls.append(partial(v.addcmul_, work, g))
        reciprocal = _divides_by_reciprocal(p.device)
        if _clamp_is_exact(state.beta2, state.eps, reciprocal=reciprocal):  # the same bits,
            calls.append(partial(torch.clamp_min, v, FLT_MIN, out=denom))  # faster
            calls.append(denom.sqrt_)
        else:
            calls.append(partial(torch.sqrt, v, out=denom))
        # (an addcdiv with broadcast eps and bias2 would be one pass, but is 4x slower)
        calls.append(self._divide_per_step(denom, "bias2", state._bias2, _bias2_sqrt))
        calls.append(partial(denom.add_, state.factor("eps", p)))
        if len(state._step_size.values) == 1:
            key = state._step_size.values[0]  # (lr, beta1)

            def update() -> None:  # value= takes a Python scalar: one pass, as torch does it
                p.addcdiv_(m, denom, value=_neg_step_size(key, float(state.step)))

            calls.append(update)
        else:
            step_size = self._per_step("step_size", state._step_size, _neg_step_size, p)
            calls.append(partial(torch.mul, m, step_size, out=work))
            calls.append(partial(p.addcdiv_, work, denom))

    def _divide_per_step(
        self, x: Tensor, name: str, distinct: Distinct, fn: Callable[[Any, float], float]
    ) -> Callable[[], object]:
        """``x`` divided, in place, by ``fn(key, t)`` for each config at step ``t``, rounded
        as torch's kernels divide by that Python number: on the CPU by true division; on
        CUDA as a product with the float32 reciprocal (``div_true_kernel_cuda`` takes that
        path for a CPU scalar, and a tensor divisor would take the other)."""
        if not _divides_by_reciprocal(x.device):
            return partial(x.div_, self._per_step(name, distinct, fn, x))
        if len(distinct.values) == 1:
            key, state = distinct.values[0], self.state
            return lambda: x.div_(fn(key, float(state.step)))  # exactly torch's call

        def reciprocal(key: Any, t: float) -> float:
            return float(np.float32(1.0) / np.float32(fn(key, t)))  # in float32, as CUDA

        return partial(x.mul_, self._per_step(f"1/{name}", distinct, reciprocal, x))

    def _per_step(
        self, name: str, distinct: Distinct, fn: Callable[[Any, float], float], like: Tensor
    ) -> Tensor:
        """A buffer that holds ``fn(key, t)`` for each config at step ``t``: refreshed once a
        step, before the calls (a 0-dim tensor when every config has the same key)."""
        if len(distinct.values) == 1:
            value = distinct.values[0]
            scalar = torch.zeros((), dtype=like.dtype, device=like.device)
            self.refresh.append(lambda t: scalar.fill_(fn(value, float(t))))
            return scalar
        column = config_column([0.0] * like.shape[0], like)  # (K, 1, ...)

        def refresh(t: int) -> None:
            rows = distinct.column_at(name, fn, t, like)  # a row of a precomputed table
            assert isinstance(rows, Tensor)
            column.copy_(rows)

        self.refresh.append(refresh)
        return column


@cache
def fused_kernel() -> _native.FusedAdam | None:
    """The fused kernel (built on first use, see :mod:`optiscope.optim._native`), if this
    machine has it and it gives, on test numbers, what the torch calls give; else ``None``
    (:func:`fused_unavailable_reason` says why) and the torch calls are used."""
    return _native.checked(_native.load(), _fused_agrees, _FUSED_REASON, "Adam")


_FUSED_REASON: list[str] = []


def fused_unavailable_reason() -> str | None:
    """Why :func:`fused_kernel` is ``None`` (``None`` when it is not)."""
    return _native.why_unavailable(fused_kernel(), "adam", _FUSED_REASON)


FUSED_CHECK_HPARAMS = (
    # (lr, beta1, beta2, eps, weight_decay): lerp's two branches (1 - beta1 < 0.5 and not),
    # zero and nonzero decay, the sqrt clamp on (eps 1e-8) and off (eps 0)
    (0.01, 0.9, 0.999, 1e-8, 0.01),
    (1.0, 0.3, 0.99, 1e-6, 0.0),
    (0.1, 0.5, 0.9999, 0.0, 0.5),
)


def _fused_agrees(kernel: _native.FusedAdam) -> bool:
    """Whether the kernel's steps equal the torch calls' on numbers of mixed magnitudes
    (with zeros and subnormals), for Adam and AdamW, both lerp branches, with and without
    the sqrt clamp, over a length that is not a whole number of vectors."""
    for decoupled in (False, True):
        for hparams in (FUSED_CHECK_HPARAMS[:1], FUSED_CHECK_HPARAMS):
            runs = []
            for use in (kernel, None):
                params = [mixed((len(hparams), 3, 37), torch.Generator().manual_seed(1))]
                grads = [torch.empty_like(params[0])]
                state = init_adam_state(
                    params,
                    [
                        {"lr": lr, "betas": (b1, b2), "eps": eps, "weight_decay": wd}
                        for lr, b1, b2, eps, wd in hparams
                    ],
                )
                plan = _Plan(params, grads, state, decoupled, kernel=use)
                if (plan.fused is None) != (use is None):
                    return False  # (the check must run the kernel)
                state._plan = plan
                drawn = torch.Generator().manual_seed(2)
                for _ in range(4):
                    grads[0].copy_(mixed(grads[0].shape, drawn))
                    adam_step(params, grads, state, decoupled=decoupled)
                runs.append(params[0])
            nan = runs[0].isnan()  # (eps = 0 gives 0 / 0 where v and m are 0, as in torch)
            if not (
                torch.equal(nan, runs[1].isnan()) and torch.equal(runs[0][~nan], runs[1][~nan])
            ):
                return False
    return True


def _divides_by_reciprocal(device: torch.device) -> bool:
    """Whether torch divides a tensor on ``device`` by a Python number as a product with
    its float32 reciprocal (CUDA) rather than by true division (the CPU)."""
    return device.type == "cuda"


def _clamp_is_exact(
    beta2: Sequence[float], eps: Sequence[float], *, reciprocal: bool = False
) -> bool:
    """Whether ``sqrt(max(v, FLT_MIN))`` gives every config the denominator ``sqrt(v)`` gives.

    The two differ only where ``0 <= v < FLT_MIN``, where ``sqrt(v) / bias2 <= sqrt(FLT_MIN) /
    bias2``; if adding ``eps`` to the larger of these still rounds to ``eps`` in float32, both
    denominators are ``eps`` exactly. ``bias2 = sqrt(1 - beta2**t)`` is smallest at step 1, so
    checking step 1 (in float32, dividing as the step divides: ``reciprocal`` for a product
    with ``1 / bias2``, see :meth:`_Plan._divide_per_step`) covers every step. It fails for
    ``eps = 0`` (``0 / 0`` must stay NaN, as in torch) and for eps far below 1e-16.
    """
    steps = [_bias2_sqrt((b, e), 1.0) for b, e in zip(beta2, eps, strict=True)]
    bias2 = torch.tensor(steps, dtype=torch.float32)
    column = torch.tensor(list(eps), dtype=torch.float32)  # as the step rounds them
    root = torch.full_like(bias2, FLT_MIN).sqrt_()
    scaled = root.mul_(torch.reciprocal(bias2)) if reciprocal else root.div_(bias2)
    return bool(torch.equal(scaled.add_(column), column))


def _bias2_sqrt(beta2_eps: tuple[float, float], t: float) -> float:
    return float((1 - beta2_eps[0] ** t) ** 0.5)  # Python's pow, as torch's bias correction


def _neg_step_size(lr_beta1: tuple[Lr, float], t: float) -> float:
    return -(lr_at(lr_beta1[0], t) / float(1 - lr_beta1[1] ** t))


def _decay(lr_wd: tuple[Lr, float], t: float) -> float:
    return 1 - lr_at(lr_wd[0], t) * lr_wd[1]  # AdamW's param.mul_(1 - lr * weight_decay)


def _check_k(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> None:
    sizes = {int(p.shape[0]) for p in params}
    if sizes != {len(hparams)}:
        raise ValueError(
            f"stacked parameters have leading sizes {sorted(sizes)} but {len(hparams)} "
            "hyperparameter sets were given; stack one slice per config."
        )


def adam_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
    *,
    decoupled: bool = False,
) -> None:
    """One Adam (AdamW, ``decoupled=True``) step of one config, as ``torch.optim``'s
    single-tensor path writes it: the same calls, with its Python scalars.

    Args:
        params: one config's parameters, updated in place.
        grads: their gradients.
        state: this function's state (step count, moments), empty before the first step.
        hparams: validated hyperparameters (``lr``, ``betas``, ``eps``, ``weight_decay``).
    """
    lr, (beta1, beta2) = hparams["lr"], hparams["betas"]
    eps, weight_decay = hparams["eps"], hparams["weight_decay"]
    if "moments" not in state:  # zero first and second moments, as torch starts them
        state["moments"] = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    step = state["step"] = state.get("step", 0) + 1
    moments = state["moments"]
    for p, g, (m, v) in zip(params, grads, moments, strict=True):
        g = reference_decayed(p, g, lr, weight_decay, decoupled)
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        step_size = lr / (1 - beta1 ** float(step))  # torch reads its step counter as a float
        bias_correction2_sqrt = (1 - beta2 ** float(step)) ** 0.5
        denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-step_size)


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
    reference_step=adam_reference_step,
)
