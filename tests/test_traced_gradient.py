"""The traced value and gradient (engine/_traced.py) against autograd, bit for bit."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest
import torch

from optiscope.engine._traced import _GRAD_OUTPUTS_CHECK, _autograd, value_and_grad
from optiscope.landscapes import LANDSCAPES, Landscape, get_landscape


def _positions(c: int, dtype: torch.dtype) -> torch.Tensor:
    """``(C, 2)`` points around each domain, stored column by column as run_grid stores them,
    with exact zeros and negative zeros among them (signs of zero must survive too)."""
    generator = torch.Generator().manual_seed(0)
    points = (torch.rand(c, 2, generator=generator, dtype=torch.float64) * 6 - 3).to(dtype)
    points[0] = torch.tensor([0.0, -0.0], dtype=dtype)
    points[-1] = torch.tensor([-0.0, 0.0], dtype=dtype) if c > 1 else points[-1]
    return torch.empty(2, c, dtype=dtype).t().copy_(points)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c", [1, 2, 37])
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_every_registered_function_s_trace_equals_autograd(
    name: str, c: int, dtype: torch.dtype
) -> None:
    landscape = LANDSCAPES[name]
    P = _positions(c, dtype)
    traced_value, traced_grad = value_and_grad(landscape, c, dtype)(P)
    value, grad = _autograd(landscape)(P)
    assert traced_value.dtype == value.dtype and traced_grad.dtype == grad.dtype
    assert torch.equal(traced_value, value) and torch.equal(traced_grad, grad)
    assert torch.equal(torch.signbit(traced_grad), torch.signbit(grad))  # -0.0 stays -0.0


def test_parameters_are_part_of_the_trace() -> None:
    P = _positions(4, torch.float32)
    for b in (2.0, 100.0):
        landscape = get_landscape("rosenbrock", b=b)
        traced = value_and_grad(landscape, 4, torch.float32)(P)
        plain = _autograd(landscape)(P)
        assert torch.equal(traced[0], plain[0]) and torch.equal(traced[1], plain[1])


def test_a_function_that_is_not_registered_runs_through_autograd() -> None:
    """A landscape with a registered name but another function (it may branch on values) is
    never traced: the trace would keep one branch only."""
    base = get_landscape("rosenbrock")

    def branching(x: Any, y: Any) -> Any:
        return torch.where(x > 0, base(x, y), 2 * base(x, y))

    other: Landscape = dataclasses.replace(base, function=branching)
    evaluate = value_and_grad(other, 3, torch.float32)
    P = _positions(3, torch.float32)
    value, grad = evaluate(P)
    expected = _autograd(other)(P)
    assert torch.equal(value, expected[0]) and torch.equal(grad, expected[1])
    assert evaluate.__name__ == "evaluate"  # autograd's closure, not a replayed trace


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_backward_from_ones_equals_backward_from_the_sum(name: str, dtype: torch.dtype) -> None:
    """The two starts of the backward pass give the same bits (values, gradients, signs of
    zero), for sizes that use torch's vector loops and their tails."""
    landscape = LANDSCAPES[name]
    for c in (1, 37, 4096):
        P = _positions(c, dtype)
        from_sum = _autograd(landscape, from_ones=False)
        from_ones = _autograd(landscape, from_ones=True)
        for _ in range(2):  # the second call reuses the kept ones
            (v1, g1), (v2, g2) = from_sum(P), from_ones(P)
            assert torch.equal(v1, v2) and torch.equal(g1, g2)
            assert torch.equal(torch.signbit(g1), torch.signbit(g2))


def test_a_map_in_a_fresh_process_does_not_import_sympy() -> None:
    """Checking a ``grad_outputs`` tensor imports sympy (0.45 s): a one-off map must not pay
    it (the backward from the sum runs where it is not loaded)."""
    code = (
        "import sys\n"
        "from optiscope import sensitivity_map\n"
        "sensitivity_map('rosenbrock a=1 b=2', 'momentum', {'lr': [0.01, 0.1], 'beta': [0.5]},"
        " steps=3)\n"
        "print(sorted(m for m in ('sympy', _GRAD) if m in sys.modules))\n"
    ).replace("_GRAD", repr(_GRAD_OUTPUTS_CHECK))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
