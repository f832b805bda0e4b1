"""Adam/AdamW's stacked step as one pass of the fused kernel (see :mod:`._native`).

:class:`FusedPlan` binds the kernel's arguments once per parameter tensor; a step then
computes the two per-step scalars of each config (the bias corrections, as torch computes them
in Python doubles, rounded once to float32) and calls the kernel once per parameter tensor.
The learning rate is read from the state at every step, so a schedule that replaces
``state.lr`` is taken at the next step. Once the learning rates have stayed the same for a
step, the scalars of up to :data:`BLOCK` steps are computed at once, and a step only points the
kernel at its row (a dozen small torch calls a step were a fifth of a one-config step at
batch size 2).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from optiscope.optim._base import BLOCK, Distinct, Lr, StepLrs, block_from, lr_at
from optiscope.optim._native import VSQRT_MODE, AdamArgs, FusedAdam

__all__ = ["BLOCK", "FusedPlan", "fits"]


class _Hyper(Protocol):
    lr: tuple[Lr, ...]
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    eps: tuple[float, ...]
    weight_decay: tuple[float, ...]


def fits(tensors: Sequence[Sequence[Tensor]], state: _Hyper, decoupled: bool) -> bool:
    """Whether the kernel can take these stacked tensors (params, grads, moments: float32 on
    the CPU, contiguous, of one shape per parameter) and hyperparameters.

    One case torch treats apart is left to the torch calls: Adam's ``weight_decay`` so small
    that float32 rounds it to 0, which torch still adds (a zero term the kernel would skip).
    """
    for group in zip(*tensors, strict=True):
        shape = group[0].shape
        for t in group:
            if t.device.type != "cpu" or t.dtype != torch.float32 or not t.is_contiguous():
                return False
            if t.shape != shape or t.dim() == 0:
                return False
    if not decoupled:
        rounded = torch.tensor(state.weight_decay, dtype=torch.float32).tolist()
        if any(wd != 0 and r == 0 for wd, r in zip(state.weight_decay, rounded, strict=True)):
            return False
    return True


class FusedPlan:
    """One Adam/AdamW step of K configs as one kernel call per parameter tensor.

    Args:
        kernel: the loaded kernel.
        params, grads, exp_avg, exp_avg_sq: stacked ``(K, *shape)`` tensors (see :func:`fits`).
        state: the configs' hyperparameters (read again at every step for ``lr``).
        decoupled: AdamW's decay instead of Adam's L2 term.
        clamp: whether ``sqrt(max(v, FLT_MIN))`` is exact for these configs (the caller
            decides, as for the torch calls).
    """

    def __init__(
        self,
        kernel: FusedAdam,
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        exp_avg: Sequence[Tensor],
        exp_avg_sq: Sequence[Tensor],
        state: _Hyper,
        *,
        decoupled: bool,
        clamp: bool,
    ) -> None:
        self.kernel, self.state, self.decoupled = kernel, state, decoupled
        k = int(params[0].shape[0])

        def floats(values: Sequence[float]) -> Tensor:
            return torch.tensor(list(values), dtype=torch.float32)  # (K,), one rounding each

        self._keep: list[Any] = []  # every tensor the kernel reads through a raw address
        w1 = floats([1 - b for b in state.beta1])
        beta2 = floats(state.beta2)
        c2 = floats([1 - b for b in state.beta2])
        eps = floats(state.eps)
        self.wd = None if decoupled else floats(state.weight_decay)
        self.decay = torch.ones(k)  # (K,) 1 - lr * wd, refreshed when lr changes
        self.bias2 = torch.empty(k)  # (K,) this step's sqrt(1 - beta2**t)
        self.step = torch.empty(k)  # (K,) this step's -lr / (1 - beta1**t)
        self._lr: tuple[Lr, ...] | None = None  # the state's lr when it is constant
        self._values: tuple[float, ...] | None = None  # the lrs the buffers hold
        self._lr64 = torch.empty(k, dtype=torch.float64)
        self._step64 = torch.empty(k, dtype=torch.float64)
        self._like64 = torch.empty(k, dtype=torch.float64)
        self._bias1 = Distinct(list(state.beta1))
        self._bias2 = Distinct(list(state.beta2))
        self._keep += [w1, beta2, c2, eps, self.wd, self.decay, self.bias2, self.step]
        self.args: list[AdamArgs] = []
        for p, g, m, v in zip(params, grads, exp_avg, exp_avg_sq, strict=True):
            args = AdamArgs(
                k=k,
                n=p[0].numel(),
                stride=p[0].numel(),
                p=p.data_ptr(),
                m=m.data_ptr(),
                v=v.data_ptr(),
                g=g.data_ptr(),
                decay=None,
                wd=None if self.wd is None else self.wd.data_ptr(),
                w1=w1.data_ptr(),
                beta2=beta2.data_ptr(),
                c2=c2.data_ptr(),
                eps=eps.data_ptr(),
                bias2=self.bias2.data_ptr(),
                step=self.step.data_ptr(),
                clamp=int(clamp),
                vsqrt=kernel.vsqrt,
                vsqrt_mode=VSQRT_MODE,
            )
            self.args.append(args)
            self._keep += [p, g, m, v]
        self._refs = [ctypes.byref(a) for a in self.args]
        self._k = k
        self._since = 0  # the step the lrs in _lr64 were set at (one that set them every
        # step would otherwise build a table of BLOCK steps every step)
        # With a constant lr: the scalars of steps [first, first + count), for these lrs
        self._block: tuple[int, tuple[float, ...] | None, Tensor, Tensor] = (
            0,
            None,
            torch.empty(0, k),
            torch.empty(0, k),
        )

    def run(self, t: int) -> None:
        """Step ``t`` (counting from 1) of every config."""
        self._refresh_lr(t)
        if self._lr is None or self._since == t:  # a schedule, or new lrs: this step's, now
            self._scalars_now(t)
            self._point(self.bias2.data_ptr(), self.step.data_ptr())
        else:
            first, values, bias2, step = self._block
            if values is not self._values or not first <= t < first + bias2.shape[0]:
                first, values, bias2, step = self._block = self._scalars_from(t)
            offset = (t - first) * self._k * bias2.element_size()
            self._point(bias2.data_ptr() + offset, step.data_ptr() + offset)
        for ref in self._refs:
            self.kernel.step(ref)

    def _point(self, bias2: int, step: int) -> None:
        for args in self.args:
            args.bias2, args.step = bias2, step

    def _scalars_from(self, t: int) -> tuple[int, tuple[float, ...] | None, Tensor, Tensor]:
        """The scalars of the steps from ``t`` at the lrs in ``_lr64``: the same
        float64 operations as :meth:`_scalars_now` on each row, then one rounding."""
        count = block_from(t)
        bias2 = self._bias2.table(_bias2_sqrt, t, count, torch.float32)  # (count, K)
        bias1 = self._bias1.table(_bias1, t, count, torch.float64)  # (count, K)
        step = torch.div(self._lr64, bias1).neg_().to(torch.float32)  # (count, K)
        return t, self._values, bias2, step

    def _scalars_now(self, t: int) -> None:
        """Step ``t``'s scalars into :attr:`bias2` and :attr:`step`."""
        self._fill(self.bias2, self._bias2.column_at("bias2", _bias2_sqrt, t, self.bias2))
        bias1 = self._bias1.column_at("bias1", _bias1, t, self._like64)  # float64
        # -(lr / (1 - beta1**t)) in doubles, as torch's Python code, then one rounding
        torch.div(self._lr64, bias1, out=self._step64)
        torch.neg(self._step64, out=self._step64)
        self.step.copy_(self._step64)

    def _refresh_lr(self, t: int) -> None:
        lr = self.state.lr
        if lr is self._lr:
            return
        values = tuple(lr_at(a, t) for a in lr)  # a StepLrs gives this step's lr
        # a constant lr is looked at again only when the state gets a new tuple
        self._lr = None if any(isinstance(a, StepLrs) for a in lr) else lr
        if values == self._values:
            return
        self._values, self._since = values, t
        self._lr64.copy_(torch.tensor(values, dtype=torch.float64))
        if self.decoupled:
            wd = self.state.weight_decay
            decay = [1 - a * b for a, b in zip(values, wd, strict=True)]  # as torch, in doubles
            self.decay.copy_(torch.tensor(decay, dtype=torch.float32))
            address = self.decay.data_ptr() if any(d != 1.0 for d in decay) else None
            for args in self.args:
                args.decay = address

    @staticmethod
    def _fill(out: Tensor, column: Tensor | float) -> None:
        if isinstance(column, float):
            out.fill_(column)
        else:
            out.copy_(column)


def _bias2_sqrt(beta2: float, t: float) -> float:
    return float((1 - beta2**t) ** 0.5)  # Python's pow, as torch's bias correction


def _bias1(beta1: float, t: float) -> float:
    return float(1 - beta1**t)
