"""Cross-entropy of K stacked classifiers, op for op what autograd does for one plain model.

``F.cross_entropy(logits, y)`` (what ``nn.CrossEntropyLoss()`` calls) is, on the CPU::

    logp = _log_softmax(logits, 1, False)                  # forward
    loss, total = nll_loss_forward(logp, y, None, MEAN, -100)
    g = nll_loss_backward(1, logp, y, ...)                 # backward: -(1 / rows) at (b, y_b)
    dlogits = _log_softmax_backward_data(g, logp, 1, float32)

and the reduction of ``nll_loss_forward`` sums the picked log-probabilities in a cascade of
partial sums whose order depends on the row index (``LossNLL.cpp``). Here:

- ``_log_softmax`` and its backward run once for all K configs (over the last dimension)
  where the exactness probe finds that equal to the plain call bit for bit, else once per
  config (:mod:`optiscope.engine._exact`);
- ``nll_loss_backward`` is a constant for a batch (its labels and size): ``-(1 / rows)``
  rounded in float32 as the kernel rounds it, at each row's label, zero elsewhere; it is
  written once per batch (or after each shuffle);
- the loss value is the plain ``nll_loss_forward`` once per config: its cascade sum is not
  reproduced in stacked form (a per-config call is exact by construction; it costs a few
  microseconds per config and step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor

from optiscope.engine._exact import Candidate, Operand, choose, per_model

__all__ = ["CrossEntropyHead", "nll_gradient_value"]

_aten = torch.ops.aten
_MEAN = 1  # at::Reduction::Mean
_IGNORE = -100  # nn.CrossEntropyLoss's default ignore_index

Call = Callable[[], object]


def nll_gradient_value(rows: int) -> float:
    """``nll_loss_backward``'s value at a row's label, for a mean over ``rows`` rows and an
    upstream gradient of 1: ``-(1.0f / rows)``, divided in float32 as the kernel does."""
    return float(-(torch.ones((), dtype=torch.float32) / rows).item())


def _log_softmax(t: Sequence[Tensor], o: Tensor) -> Call:
    return partial(_aten._log_softmax.out, t[0], -1, False, out=o)


def _log_softmax_backward(t: Sequence[Tensor], o: Tensor) -> Call:
    return partial(_aten._log_softmax_backward_data.out, t[0], t[1], -1, torch.float32, out=o)


def _log_softmax_backward_via_scratch(t: Sequence[Tensor], o: Tensor) -> Call:
    """Into a contiguous scratch, then copied: written straight into a buffer that is not
    contiguous (a gap after each config's slice, see
    :func:`~optiscope.engine._stacked_net.aligned_stack`), torch 2.13's CPU kernel gives
    wrong numbers (off by up to 1e29 here), which the probe rejects."""
    scratch = torch.empty(o.shape, device=o.device)  # (K, rows, C), contiguous
    grad, logp = t

    def run() -> None:
        _aten._log_softmax_backward_data.out(grad, logp, -1, torch.float32, out=scratch)
        o.copy_(scratch)

    return run


class CrossEntropyHead:
    """The loss of a stacked classifier: log-softmax, NLL value and (for training) the
    gradient of each config's mean cross-entropy with respect to its logits.

    Args:
        key: builds the exactness probe's cache key from its parts (the network's
            :meth:`~optiscope.engine._stacked_net.StackedMLP._key`).
        logits: the output layer's buffer, ``(K, rows, C)``.
        grad: the buffer of the logits' gradient ``(K, rows, C)``, or ``None`` for a
            forward-only network.
        order: orders candidates for the number of configs (plain call first for one).
    """

    def __init__(
        self,
        key: Callable[..., tuple[object, ...]],
        logits: Tensor,
        grad: Tensor | None,
        order: Callable[[list[Candidate]], list[Candidate]],
    ) -> None:
        k, rows, classes = logits.shape
        self.rows, self.classes = rows, classes
        # contiguous: torch's log-softmax kernel writes wrong numbers into an output that is
        # not (see _log_softmax_backward_via_scratch); its slices need no alignment (the
        # probe checks that too)
        self.logp = torch.empty(k, rows, classes, device=logits.device)  # (K, rows, C)
        self.forward_op = choose(
            key("log_softmax"),
            order([Candidate("stacked", _log_softmax), per_model(_log_softmax)]),
            lambda t: _aten._log_softmax.default(t[0], 1, False),
            [Operand(logits, low=-4.0, high=4.0)],
            self.logp,
        )
        self.backward_op: Candidate | None = None
        if grad is not None:
            self.nll_grad = torch.zeros(k, rows, classes, device=logits.device)  # (K, rows, C)
            self.value = nll_gradient_value(rows)
            self.backward_op = choose(
                key("log_softmax_backward"),
                order(
                    [
                        Candidate("stacked", _log_softmax_backward),
                        Candidate("stacked_via_scratch", _log_softmax_backward_via_scratch),
                        per_model(_log_softmax_backward),
                    ]
                ),
                lambda t: _aten._log_softmax_backward_data.default(t[0], t[1], 1, torch.float32),
                [Operand(self.nll_grad), Operand(self.logp, low=-4.0, high=0.0)],
                grad,
            )
            self.nll_grad.zero_()
        self._total = torch.empty((), device=logits.device)  # nll_loss's total weight

    def bind(
        self, logits: Tensor, y: Tensor, loss: Tensor, grad: Tensor | None, *, shuffled: bool
    ) -> list[Call]:
        """The calls of one batch: log-softmax, each config's loss into ``loss`` ``(K,)``
        and, with ``grad``, the logits' gradient into it ``(K, rows, C)``.

        Args:
            logits: ``(K, rows, C)``.
            y: labels ``(K, rows)`` (int64; an expanded shared batch or per-config rows).
            loss: ``(K,)``.
            grad: where the gradient goes, or ``None`` for a forward-only network.
            shuffled: ``y`` changes between steps (per-config shuffled batches): the NLL
                gradient is rewritten at each step instead of once here.
        """
        calls: list[Call] = [self.forward_op.bind([logits], self.logp)]
        calls += [
            partial(
                _aten.nll_loss_forward.output,
                self.logp[k],
                y[k],
                None,
                _MEAN,
                _IGNORE,
                output=loss[k],
                total_weight=self._total,
            )
            for k in range(loss.shape[0])
        ]
        if grad is None:
            return calls
        assert self.backward_op is not None
        if shuffled:
            calls.append(partial(self._write_nll_grad, self.nll_grad, y))
            nll_grad = self.nll_grad
        else:  # a batch's own constant gradient, written once
            nll_grad = torch.zeros_like(self.nll_grad)
            self._write_nll_grad(nll_grad, y)
        calls.append(self.backward_op.bind([nll_grad, self.logp], grad))
        return calls

    def _write_nll_grad(self, out: Tensor, y: Tensor) -> None:
        out.zero_()
        out.scatter_(2, y.unsqueeze(2), self.value)  # (K, rows, C)
