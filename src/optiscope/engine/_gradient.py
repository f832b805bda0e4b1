"""The value and gradient of a landscape at many 2-D positions, bit-identical to autograd.

A 2-D run spends most of a step in autograd's machinery, not in arithmetic: building the graph
of a dozen ops on one column of positions and walking it backward costs several times the ops
themselves (a 64 x 64 map: about 95 ms of backward and 46 ms of forward in 0.25 s). Every
registered function carries its value and gradient written out as the very ops autograd runs,
in its order (:class:`optiscope.landscapes.Landscape`'s explicit gradient, next to each
function in ``landscapes/_functions.py``), so :func:`value_and_grad` calls those ops
directly: the same kernels on the same operands, so the same bits, with nothing to record
and nothing to set up (``tests/test_explicit_gradient.py`` checks each registered function
against autograd and each map against :func:`optiscope.race`).

Any other function, a user's own or a registered one's replaced under its name, runs through
autograd, as do dtypes other than float32 and float64.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import Tensor

from optiscope.landscapes import Landscape

__all__ = ["ValueAndGrad", "value_and_grad"]

#: ``(P) -> (value, grad)``: for a ``(C, 2)`` position, the ``(C,)`` value and ``(C, 2)``
#: gradient (both detached).
ValueAndGrad = Callable[[Tensor], tuple[Tensor, Tensor]]

#: The dtypes the explicit gradients are written for (torch computes a Python scalar's
#: product with a tensor of these in the tensor's own dtype, as the gradients assume).
EXPLICIT_DTYPES = (torch.float32, torch.float64)

#: The module ``torch.autograd.grad`` imports to check a ``grad_outputs`` tensor: sympy and
#: torch's symbolic shapes, about 0.45 s the first time in a process.
_GRAD_OUTPUTS_CHECK = "torch.fx.experimental.symbolic_shapes"


def _autograd(landscape: Landscape, *, from_ones: bool | None = None) -> ValueAndGrad:
    """The value and gradient by autograd: the reference, and the path of any function
    without an explicit gradient.

    Backward starts from ``value.sum()``, or, with ``from_ones``, from a kept tensor of ones:
    the gradient the sum hands each row (1.0, so every product with it is exact and the
    gradients are the same bits), without the sum and its backward node: a 64 x 64 map's step
    about 10% faster. Autograd reads ``grad_outputs`` and never writes it. But checking
    ``grad_outputs`` imports :data:`_GRAD_OUTPUTS_CHECK` (0.45 s, more than a one-off map
    saves), so by default (``None``) the ones are used only in a process that has loaded that
    module already.
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


def value_and_grad(landscape: Landscape, dtype: torch.dtype) -> ValueAndGrad:
    """``(P) -> (value, grad)`` for ``(C, 2)`` positions of ``dtype``, bit-identical to
    autograd's (:func:`_autograd`).

    Args:
        landscape: the function; a registered one uses its explicit gradient, any other
            runs through autograd.
        dtype: the float dtype of ``P``.
    """
    # private to the engine: the landscape's hand-written ops, None for a user's function
    explicit = landscape._explicit_gradient() if dtype in EXPLICIT_DTYPES else None
    if explicit is None:
        return _autograd(landscape)

    def evaluate(P: Tensor) -> tuple[Tensor, Tensor]:
        value, grad_x, grad_y = explicit(P[:, 0], P[:, 1])  # each (C,)
        # Autograd hands each column's gradient back through ``select`` and adds the two
        # (C, 2) results, zeros elsewhere: 0.0 + grad_x and grad_y + 0.0, which turns a -0.0
        # into +0.0 (and changes nothing else). Stored column by column, as P is.
        return value, torch.stack((grad_x, grad_y)).t().add_(0.0)  # (C,), (C, 2)

    return evaluate
