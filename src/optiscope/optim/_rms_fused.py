"""RMSprop's and Adagrad's stacked steps as one pass of the fused kernels (see :mod:`._native`
and the header of :file:`_fused_rms.c` for the operations).

A plan binds a kernel's arguments once per parameter tensor; a step then points the kernel at
this step's per-config ``-lr`` (RMSprop) or ``-clr`` (Adagrad) and calls it once per parameter
tensor. Those scalars are computed as torch computes them, in Python doubles (a scheduled lr:
its :class:`StepLrs` value at the step), rounded once to float32, for :data:`BLOCK` steps at a
time (once, when they cannot change). As in the torch calls, the hyperparameters, lrs
included, are those the state had when the plan was bound.

Every plan, fused or not, remembers the tensors it was bound to (:meth:`Bound.binds`): a step
whose parameters, gradients or state tensors were replaced is bound again.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from optiscope.optim._base import Distinct, Lr, StepLrs, lr_at
from optiscope.optim._native import (
    MODE_CENTERED,
    MODE_DECAY,
    MODE_MOMENTUM,
    VSQRT_MODE,
    AdagradArgs,
    FusedRms,
    RmspropArgs,
)

__all__ = [
    "BLOCK",
    "AdagradPlan",
    "Bound",
    "RmspropPlan",
    "adagrad_tensors",
    "clamp_is_exact",
    "fits",
    "mixed",
    "neg_clr",
    "rmsprop_tensors",
    "same",
]

BLOCK = 256
"""Steps whose per-step scalars are computed together."""

FLT_MIN = float(torch.finfo(torch.float32).tiny)


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


class Bound:
    """The tensors a step was bound to (a plan without a kernel: the torch calls run).

    Args:
        tensors: parameters, gradients and state tensors, in a fixed order.
    """

    kernel: FusedRms | None = None

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


class _PerStep:
    """``fn(key, t)`` of each config at step ``t`` as a float32 ``(K,)`` row the kernel reads:
    computed in Python doubles and rounded once, :data:`BLOCK` steps at a time, or once where
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
            count = 1 if self._constant else BLOCK
            self._table = self._distinct.table(self._fn, t, count, torch.float32)
            self._first = t
        return self._table.data_ptr() + (t - self._first) * self._k * self._table.element_size()


def _floats(values: Sequence[float]) -> Tensor:
    return torch.tensor(list(values), dtype=torch.float32)  # (K,), one rounding each


def _modes(*flags: tuple[int, Sequence[bool]]) -> Tensor:
    """Per-config kernel flags: the OR of each ``bit`` where its flag is set."""
    k = len(flags[0][1])
    modes = [sum(bit for bit, values in flags if values[c]) for c in range(k)]
    return torch.tensor(modes, dtype=torch.int32)  # (K,)


class _Plan(Bound):
    """What the two plans share: the kernel, the bound tensors and the per-step scalars.

    Args:
        kernel: the loaded kernels.
        tensors: every tensor the step reads or writes (for :meth:`Bound.binds`).
        per_step: the per-step scalars.
        field: the argument that points at this step's scalars.
    """

    def __init__(
        self, kernel: FusedRms, tensors: Sequence[Tensor], per_step: _PerStep, field: str
    ) -> None:
        super().__init__(tensors)
        self.kernel = kernel
        self._per_step, self._field = per_step, field
        self._address = 0
        self._keep: list[Any] = []  # every tensor a kernel reads through a raw address
        self.args: list[Any] = []
        self._refs: list[Any] = []
        self._call: Callable[[object], None] = kernel.rmsprop

    def _bind(self, args: Sequence[Any], call: Callable[[object], None]) -> None:
        self.args = list(args)
        self._refs = [ctypes.byref(a) for a in self.args]
        self._call = call

    def run(self, t: int) -> None:
        address = self._per_step.address(t)
        if address != self._address:
            self._address = address
            for args in self.args:
                setattr(args, self._field, address)
        for ref in self._refs:
            self._call(ref)


class RmspropPlan(_Plan):
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
        per_step = _PerStep(lrs, _neg_lr, constant=not _scheduled(lrs))
        super().__init__(kernel, rmsprop_tensors(params, grads, state), per_step, "neg_lr")
        k = int(params[0].shape[0])
        mode = _modes(
            (MODE_DECAY, [wd != 0 for wd in state.weight_decay]),
            (MODE_CENTERED, state.centered),
            (MODE_MOMENTUM, [mu > 0 for mu in state.momentum]),
        )
        wd, alpha = _floats(state.weight_decay), _floats(state.alpha)
        w, eps = _floats([1 - a for a in state.alpha]), _floats(state.eps)
        mu = _floats(state.momentum)
        clamp = clamp_is_exact(state.eps)
        self._keep += [mode, wd, alpha, w, eps, mu]
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
        self._bind(args, kernel.rmsprop)


class AdagradPlan(_Plan):
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
        constant = not _scheduled(state.lr) and not any(state.lr_decay)
        per_step = _PerStep(keys, neg_clr, constant=constant)
        super().__init__(kernel, adagrad_tensors(params, grads, state), per_step, "neg_clr")
        k = int(params[0].shape[0])
        mode = _modes((MODE_DECAY, [wd != 0 for wd in state.weight_decay]))
        wd, eps = _floats(state.weight_decay), _floats(state.eps)
        clamp = clamp_is_exact(state.eps)
        self._keep += [mode, wd, eps]
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
        self._bind(args, kernel.adagrad)


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


def _scheduled(lrs: Sequence[Lr]) -> bool:
    return any(isinstance(lr, StepLrs) for lr in lrs)


def _neg_lr(lr: Lr, t: float) -> float:
    return -lr_at(lr, t)


def neg_clr(lr_lr_decay: tuple[Lr, float], t: float) -> float:
    """Adagrad's ``-clr`` at step ``t``, in Python doubles as torch computes it."""
    lr, lr_decay = lr_lr_decay
    return -(lr_at(lr, t) / (1 + (t - 1) * lr_decay))


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
