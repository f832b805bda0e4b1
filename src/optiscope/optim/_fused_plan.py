"""What the fused kernels' plans share (see :mod:`._native`): binding a kernel's arguments
once per parameter tensor, per-step scalars computed as torch computes them, and the checks'
test numbers.

A plan binds a kernel's arguments once per parameter tensor; a step then points the kernel at
this step's per-config scalars (each a float32 ``(K,)`` row, computed in Python doubles, as
torch computes them, and rounded once, up to :data:`BLOCK` steps at a time) and calls it once per
parameter tensor. As in the torch calls, the hyperparameters, lrs included, are those the
state had when the plan was bound (a schedule is a :class:`StepLrs`, read at its step).

Every plan, fused or not, remembers the tensors it was bound to (:meth:`Bound.binds`): a step
whose parameters, gradients or state tensors were replaced is bound again.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor

from optiscope.optim._base import BLOCK, Distinct, Lr, StepLrs, block_from, lr_at
from optiscope.optim._native import MODE_DECAY, VSQRT_MODE, KernelLibrary

__all__ = [
    "BLOCK",
    "CHECK_SHAPE",
    "Bound",
    "KernelPlan",
    "MomentHyper",
    "PerStep",
    "clamp_is_exact",
    "decay_factor",
    "decoupled_decay",
    "fits",
    "floats",
    "fused_agrees",
    "mixed",
    "modes",
    "moment_fields",
    "moment_tensors",
    "same",
    "scheduled",
]

FLT_MIN = float(torch.finfo(torch.float32).tiny)

CHECK_SHAPE = (9, 37)
"""Each config's parameters in the checks before first use: 333 numbers, not a whole number
of vectors. (With 111, RAdam's check passed a kernel whose L2 term was not an FMA: numbers of
mixed magnitudes make an FMA's single rounding visible only where the product and the sum
are of about the same size, so the check needs a few hundred of them; and the checks' L2
weight decays are not powers of two, whose products are exact, and each optimizer's check
has an L2 config whose state shows a one-ulp change of the gradient, such as an Adagrad
sum that starts at zero. tests/test_optim_fused_others.py holds each check to this.)"""


class Bound:
    """The tensors a step was bound to (a plan without a kernel: the torch calls run).

    Args:
        tensors: parameters, gradients and state tensors, in a fixed order.
    """

    kernel: KernelLibrary | None = None

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        self._tensors = list(tensors)

    def binds(self, tensors: Sequence[Tensor]) -> bool:
        """Whether these are the very tensors this plan was bound to."""
        bound = self._tensors
        if len(tensors) != len(bound):
            return False
        return all(a is b for a, b in zip(tensors, bound, strict=True))

    def run(self, t: int) -> None:
        """Step ``t`` (counting from 1) of every config."""
        raise NotImplementedError("a plan without a kernel: the caller runs the torch calls")


def fits(groups: Sequence[Sequence[Tensor]]) -> bool:
    """Whether the kernels can take these stacked tensors: each group (a parameter, its
    gradient and its state tensors) float32 on the CPU, contiguous, of one shape."""
    for group in groups:
        shape = group[0].shape
        for t in group:
            if t.device.type != "cpu" or t.dtype != torch.float32 or not t.is_contiguous():
                return False
            if t.shape != shape or t.dim() == 0:
                return False
    return True


def clamp_is_exact(eps: Sequence[float]) -> bool:
    """Whether ``sqrt(max(x, FLT_MIN)) + eps`` equals ``sqrt(x) + eps`` for ``0 <= x <
    FLT_MIN`` and every config (``sqrt`` of zeros and subnormals is slow on some CPUs; see
    :data:`optiscope.optim._adam.FLT_MIN`).

    Both are ``eps`` when even twice ``sqrt(FLT_MIN)`` (a margin for a square root that is
    not correctly rounded) added to ``eps`` rounds to ``eps`` in float32: true for eps down to
    about 1e-12, false for ``eps = 0`` (``0 / 0`` must stay NaN, as in torch).
    """
    column = torch.tensor(list(eps), dtype=torch.float32)  # as the step rounds them
    root = torch.full_like(column, FLT_MIN).sqrt_().mul_(2.0)
    return bool(torch.equal(root.add_(column), column))


class PerStep:
    """``fn(key, t)`` of each config at step ``t`` as a float32 ``(K,)`` row the kernel reads:
    computed in Python doubles and rounded once, up to :data:`BLOCK` steps at a time, or once where
    ``constant``.

    Args:
        keys: one key per config (what ``fn`` depends on besides the step).
        fn: the value of one key at step ``t`` (a Python float, as torch reads its counter).
        constant: whether the value does not depend on the step.
    """

    def __init__(
        self, keys: Sequence[Hashable], fn: Callable[[Any, float], float], *, constant: bool
    ) -> None:
        self._distinct = Distinct(list(keys))
        self._fn, self._constant, self._k = fn, constant, len(keys)
        self._first, self._table = 0, torch.empty(0, self._k)  # (steps, K)

    def address(self, t: int) -> int:
        """The address of step ``t``'s row (valid until the next call)."""
        if self._constant:
            t = 1
        if not self._first <= t < self._first + self._table.shape[0]:
            count = 1 if self._constant else block_from(t)
            self._table = self._distinct.table(self._fn, t, count, torch.float32)
            self._first = t
        row = (t - self._first) * self._k * self._table.element_size()
        return self._table.data_ptr() + row


def floats(values: Sequence[float]) -> Tensor:
    return torch.tensor(list(values), dtype=torch.float32)  # (K,), one rounding each


def modes(*flags: tuple[int, Sequence[bool]]) -> Tensor:
    """Per-config kernel flags: the OR of each ``bit`` where its flag is set."""
    k = len(flags[0][1])
    modes = [sum(bit for bit, values in flags if values[c]) for c in range(k)]
    return torch.tensor(modes, dtype=torch.int32)  # (K,)


class KernelPlan(Bound):
    """A fused step: the kernel, the bound tensors and arguments, the per-step scalars.

    Args:
        kernel: the loaded library.
        tensors: every tensor the step reads or writes (for :meth:`Bound.binds`).
        scalars: each per-step scalar and the argument that points at its row.
    """

    def __init__(
        self,
        kernel: KernelLibrary,
        tensors: Sequence[Tensor],
        scalars: Sequence[tuple[PerStep, str]],
    ) -> None:
        super().__init__(tensors)
        self.kernel = kernel
        self._scalars = list(scalars)
        self._addresses = [0] * len(self._scalars)
        self._keep: list[Any] = []  # every tensor a kernel reads through a raw address
        self.args: list[Any] = []
        self._refs: list[Any] = []
        self._call: Callable[[object], None] = _unbound

    def bind(
        self, args: Sequence[Any], call: Callable[[object], None], keep: Sequence[Any]
    ) -> None:
        """The kernel's arguments, one structure per parameter tensor, and its function;
        ``keep``: the tensors the arguments point into (kept alive with the plan)."""
        self.args = list(args)
        self._refs = [ctypes.byref(a) for a in self.args]
        self._call = call
        self._keep += list(keep)

    def run(self, t: int) -> None:
        for i, (per_step, field) in enumerate(self._scalars):
            address = per_step.address(t)
            if address != self._addresses[i]:
                self._addresses[i] = address
                for args in self.args:
                    setattr(args, field, address)
        for ref in self._refs:
            self._call(ref)


def _unbound(ref: object) -> None:
    raise RuntimeError("a KernelPlan ran before bind() gave it its arguments")


def scheduled(lrs: Sequence[Lr]) -> bool:
    return any(isinstance(lr, StepLrs) for lr in lrs)


def mixed(shape: Sequence[int], generator: torch.Generator) -> Tensor:
    """Normal values scaled by 10**e, e in [-44, 2], a quarter of them exactly zero: squares
    from zero through subnormal to large (the numbers the kernel checks run on)."""
    values = torch.randn(tuple(shape), generator=generator)
    scale = torch.pow(10.0, torch.randint(-44, 3, tuple(shape), generator=generator).float())
    scale[torch.rand(tuple(shape), generator=generator) < 0.25] = 0.0
    return values.mul_(scale)


def same(a: Tensor, b: Tensor) -> bool:
    """Equal as numbers, element for element, with NaN where the other has NaN."""
    nan = a.isnan()
    return bool(torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan]))


def decay_factor(lr_wd: tuple[Lr, float], t: float) -> float:
    """Decoupled weight decay's ``1 - lr * wd`` at step ``t`` (``p.mul_(1 - lr * wd)``), in
    Python doubles as torch computes it."""
    return 1 - lr_at(lr_wd[0], t) * lr_wd[1]


class MomentHyper(Protocol):
    """What NAdam's and RAdam's states share: Adam's two moments and hyperparameters, and a
    weight decay that is L2 or decoupled per config."""

    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]
    decoupled_weight_decay: tuple[bool, ...]


def moment_tensors(
    params: Sequence[Tensor], grads: Sequence[Tensor], state: MomentHyper
) -> list[Tensor]:
    """Every tensor a NAdam or RAdam step reads or writes, in a fixed order."""
    return [*params, *grads, *state.exp_avg, *state.exp_avg_sq]


def decoupled_decay(state: MomentHyper) -> tuple[PerStep, str] | None:
    """The per-step factor ``1 - lr * wd`` of the configs with a decoupled decay (1.0 for the
    others: ``x * 1.0`` is ``x``, as in the torch calls), or ``None`` where none has one."""
    pairs = zip(state.weight_decay, state.decoupled_weight_decay, strict=True)
    decoupled = [wd != 0 and d for wd, d in pairs]  # (K,)
    if not any(decoupled):
        return None
    keys = [
        (lr, wd if d else 0.0)
        for lr, wd, d in zip(state.lr, state.weight_decay, decoupled, strict=True)
    ]
    return PerStep(keys, decay_factor, constant=not scheduled(state.lr)), "decay"


def moment_fields(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: MomentHyper,
    beta1: Sequence[float],
    beta2: Sequence[float],
    vsqrt: int | None,
) -> tuple[list[dict[str, Any]], list[Tensor]]:
    """The kernel arguments NAdam's and RAdam's share, one dict per parameter tensor (the
    per-step scalars' addresses are set by :meth:`KernelPlan.run`), and the per-config
    columns they point into, to keep alive.

    Args:
        params, grads: stacked ``(K, *shape)`` tensors.
        state: the configs' moments and hyperparameters.
        beta1, beta2: per config, as the kernel reads them.
        vsqrt: the square root the kernel calls (see :mod:`optiscope.optim._native`).
    """
    l2 = [
        wd != 0 and not d
        for wd, d in zip(state.weight_decay, state.decoupled_weight_decay, strict=True)
    ]
    mode = modes((MODE_DECAY, l2))
    wd = floats([w if f else 0.0 for w, f in zip(state.weight_decay, l2, strict=True)])
    w1, beta2_column = floats([1 - b for b in beta1]), floats(beta2)
    c2, eps = floats([1 - b for b in beta2]), floats(state.eps)
    columns = [mode, wd, w1, beta2_column, c2, eps]
    fields = [
        {
            "k": int(p.shape[0]),
            "n": p[0].numel(),
            "stride": p[0].numel(),
            "p": p.data_ptr(),
            "m": m.data_ptr(),
            "v": v.data_ptr(),
            "g": g.data_ptr(),
            "mode": mode.data_ptr(),
            "decay": None,  # (set at the first step where any config has one)
            "wd": wd.data_ptr(),
            "w1": w1.data_ptr(),
            "beta2": beta2_column.data_ptr(),
            "c2": c2.data_ptr(),
            "eps": eps.data_ptr(),
            "clamp": int(clamp_is_exact(state.eps)),
            "vsqrt": vsqrt,
            "vsqrt_mode": VSQRT_MODE,
        }
        for p, g, m, v in zip(params, grads, state.exp_avg, state.exp_avg_sq, strict=True)
    ]
    return fields, columns


_K = TypeVar("_K", bound=KernelLibrary)


def fused_agrees(
    kernel: _K,
    groups: Sequence[Sequence[dict[str, Any]]],
    init_state: Callable[[list[Tensor], Sequence[dict[str, Any]]], Any],
    plan: Callable[[_K | None, list[Tensor], list[Tensor], Any], Bound],
    step: Callable[[list[Tensor], list[Tensor], Any], object],
    tensors: Callable[[list[Tensor], list[Tensor], Any], list[Tensor]],
    *,
    steps: int = 4,
) -> bool:
    """Whether ``kernel``'s steps equal the torch calls' (parameters and every state tensor)
    on numbers of mixed magnitudes with zeros and subnormals (:func:`mixed`), for each group
    of configs' hyperparameters, over :data:`CHECK_SHAPE` (not a whole number of vectors):
    an optimizer module's check before first use.

    Args:
        kernel: the loaded library.
        groups: per group, each config's complete hyperparameters.
        init_state: the optimizer's ``init_state(params, hparams)``.
        plan: the module's ``(kernel or None, params, grads, state) -> plan``.
        step: the optimizer's vectorized step.
        tensors: every tensor of a step, in a fixed order (to compare).
        steps: steps per group.
    """
    for hparams in groups:
        runs = []
        for use in (kernel, None):
            params = [mixed((len(hparams), *CHECK_SHAPE), torch.Generator().manual_seed(1))]
            grads = [torch.empty_like(params[0])]
            state = init_state(params, hparams)
            bound = plan(use, params, grads, state)
            if (bound.kernel is None) != (use is None):
                return False  # (the check must run the kernel)
            state._plan, state.fused = bound, use is not None
            drawn = torch.Generator().manual_seed(2)
            for _ in range(steps):
                grads[0].copy_(mixed(grads[0].shape, drawn))
                step(params, grads, state)
            runs.append(tensors(params, [], state))
        if not all(same(a, b) for a, b in zip(*runs, strict=True)):
            return False
    return True
