"""The value and gradient of a registered landscape as one traced graph of torch ops.

A 2-D run spends most of a step in autograd's machinery, not in arithmetic: building the graph
of a handful of one-element ops and walking it backward costs several times the ops
themselves. :func:`value_and_grad` records, once per function and batch size, the exact aten
ops that the forward pass and autograd's backward formulas run (``make_fx``), and replays them
as a plain sequence of calls. The same kernels run on the same inputs in the same order, so
every value and gradient is bit-identical to ``torch.autograd.grad``'s
(``tests/test_traced_gradient.py`` checks each registered function and optimizer against
:func:`optiscope.race`).

Only the registered functions are traced: tracing records the ops of one call, so a function
with a branch on its input's values would be recorded with that branch only. The registered
ones are branch-free torch arithmetic; any other landscape runs through autograd as before.
:func:`~optiscope.engine.run_grid` replays only when asked (``traced=True``, the playground's
many short paths): the first recording in a process costs about a second of set-up, more than
a one-off sensitivity map saves.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor

from optiscope.landscapes import LANDSCAPES, Landscape

__all__ = ["ValueAndGrad", "value_and_grad"]

#: ``(P) -> (value, grad)``: for a ``(C, 2)`` position, the ``(C,)`` value and ``(C, 2)``
#: gradient (both detached).
ValueAndGrad = Callable[[Tensor], tuple[Tensor, Tensor]]

# Traced graphs kept: a playground session uses a few functions and batch sizes.
_TRACES_KEPT = 64
_traces: OrderedDict[tuple[object, ...], ValueAndGrad] = OrderedDict()
_lock = threading.Lock()


#: The module ``torch.autograd.grad`` imports to check a ``grad_outputs`` tensor: sympy and
#: torch's symbolic shapes, about 0.45 s the first time in a process (make_fx loads it too).
_GRAD_OUTPUTS_CHECK = "torch.fx.experimental.symbolic_shapes"


def _autograd(landscape: Landscape, *, from_ones: bool | None = None) -> ValueAndGrad:
    """The value and gradient by autograd: what :func:`value_and_grad` replays.

    Backward starts from ``value.sum()``, or, with ``from_ones``, from a kept tensor of ones:
    the gradient the sum hands each row (1.0, so every product with it is exact and the
    gradients are the same bits), without the sum and its backward node: a 64 x 64 map's step
    about 10% faster, a replayed trace 18%. Autograd reads ``grad_outputs`` and never writes
    it. But checking ``grad_outputs`` imports :data:`_GRAD_OUTPUTS_CHECK` (0.45 s, more than a
    one-off map saves), so by default (``None``) the ones are used only where that module is
    already loaded: while make_fx traces, and in a process that has used it before.
    """
    ones: Tensor | None = None

    def evaluate(P: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal ones
        Q = P.detach().requires_grad_(True)  # (C, 2)
        value = landscape(Q[:, 0], Q[:, 1])  # (C,)
        use_ones = _GRAD_OUTPUTS_CHECK in sys.modules if from_ones is None else from_ones
        if not use_ones:
            (grad,) = torch.autograd.grad(value.sum(), Q)  # (C, 2); rows are independent
            return value.detach(), grad
        if ones is None or ones.shape != value.shape or ones.dtype != value.dtype:
            ones = torch.ones_like(value)  # (C,)
        (grad,) = torch.autograd.grad(value, Q, ones)  # (C, 2)
        return value.detach(), grad

    return evaluate


def _trace_key(landscape: Landscape) -> tuple[object, ...] | None:
    """What decides a registered function's ops: its code and the values it closes over
    (its parameters); ``None`` for any other function, even one under a registered name."""
    function = landscape.function
    code = getattr(function, "__code__", None)
    if code is None or code not in _REGISTERED_CODE:
        return None
    cells = tuple(cell.cell_contents for cell in getattr(function, "__closure__", None) or ())
    if not all(type(v) in (int, float) for v in cells):
        return None
    return (code, tuple(repr(v) for v in cells))  # repr: -0.0 is not 0.0 here


_REGISTERED_CODE = frozenset(
    code
    for known in LANDSCAPES.values()
    if (code := getattr(known.function, "__code__", None)) is not None
)


def value_and_grad(
    landscape: Landscape, c: int, dtype: torch.dtype, *, traced: bool = True
) -> ValueAndGrad:
    """``(P) -> (value, grad)`` for ``(C, 2)`` positions of ``dtype``, bit-identical to autograd.

    Args:
        landscape: the function; a registered one is traced (once per parameters, ``c`` and
            ``dtype``), any other runs through autograd.
        c: the number of rows of ``P``.
        dtype: the float dtype of ``P``.
        traced: ``False``: autograd for every function (no recording to pay for).
    """
    function_key = _trace_key(landscape) if traced else None
    if function_key is None:
        return _autograd(landscape)
    key = (*function_key, c, dtype)
    with _lock:
        recorded = _traces.get(key)
        if recorded is not None:
            _traces.move_to_end(key)
            return recorded
    # shapes and dtype only (the ops have no branches), stored as run_grid stores positions
    example = torch.zeros(2, c, dtype=dtype).t()  # (C, 2)
    # imported here: a second of imports and set-up that only a traced run needs
    from torch.fx.experimental.proxy_tensor import make_fx

    graph = make_fx(_autograd(landscape))(example)

    forward = graph.forward  # the recorded calls, without the module call's hooks

    def replay(P: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():  # plain ops: nothing for autograd to record
            value, grad = forward(P)
        return value, grad

    with _lock:
        _traces[key] = replay
        while len(_traces) > _TRACES_KEPT:
            _traces.popitem(last=False)
    return replay
