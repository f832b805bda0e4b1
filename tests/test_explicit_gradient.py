"""The registered functions' explicit gradients (landscapes/_functions.py, used by
engine/_gradient.py) against autograd, bit for bit: values, gradients, signs of zero, NaN."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from optiscope.engine import resolve_optimizer, run_grid
from optiscope.engine._gradient import _GRAD_OUTPUTS_CHECK, _autograd, value_and_grad
from optiscope.errors import ConfigError
from optiscope.landscapes import LANDSCAPES, Landscape, get_landscape
from optiscope.landscapes._base import ExplicitGradient, ValueAndPartials

DTYPES = [torch.float32, torch.float64]

# Parameter values tried on every parameter of every registered function (those its factory
# accepts): awkward ones (0.1 and 3.3 are not representable in binary, 0 switches a term
# off, huge ones overflow products), besides the defaults.
TRIED_VALUES = (0.0, 0.1, 2.0, 3.3, -2.5, 1e-7, 1e30, 1e300)


def _cases() -> list[tuple[str, dict[str, float]]]:
    """Every registered function with its defaults, and each parameter at each tried value."""
    cases: list[tuple[str, dict[str, float]]] = []
    for name, landscape in sorted(LANDSCAPES.items()):
        cases.append((name, {}))
        for param, value in itertools.product(landscape.param_dict, TRIED_VALUES):
            try:
                get_landscape(name, **{param: value})
            except ConfigError:
                continue  # outside the parameter's range
            cases.append((name, {param: value}))
    cases += [("rosenbrock", {"a": -0.3, "b": 0.1}), ("rosenbrock", {"a": 1e20, "b": 3.3})]
    return cases


CASES = _cases()
SPECIAL = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    3.0,
    1e-40,
    1e30,
    -1e30,
    1e200,
    *(float(v) for v in ["inf", "-inf", "nan"]),
)


def _positions(dtype: torch.dtype, c: int = 3000, seed: int = 0) -> Tensor:
    """``(C, 2)`` positions stored column by column as run_grid stores them: random points of
    magnitudes 1e-10 to 1e10 with both signs, then every pair of special values (zeros of
    both signs, minima coordinates, values whose squares overflow, infinities, NaN)."""
    generator = torch.Generator().manual_seed(seed)
    scale = 10.0 ** (torch.randint(-30, 31, (c, 2), generator=generator).double() / 3)
    sign = torch.randint(0, 2, (c, 2), generator=generator).double() * 2 - 1
    points = torch.rand(c, 2, generator=generator, dtype=torch.float64) * scale * sign
    pairs = torch.tensor(list(itertools.product(SPECIAL, SPECIAL)), dtype=torch.float64)
    points = torch.cat([points, pairs]).to(dtype)  # (C + 196, 2)
    return torch.empty(2, len(points), dtype=dtype).t().copy_(points)


_SAME_WIDTH = {torch.float64: torch.int64, torch.float32: torch.int32, torch.bfloat16: torch.int16}


def _bits(t: Tensor) -> np.ndarray:
    """The tensor's bits (so NaN equals NaN of the same payload and sign, -0.0 is not 0.0)."""
    return t.detach().contiguous().view(_SAME_WIDTH[t.dtype]).numpy()


def _same_bits(a: Tensor, b: Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(_bits(a), _bits(b))


def _differences(landscape: Landscape, P: Tensor) -> list[str]:
    """Where the engine's value and gradient differ from autograd's in any bit."""
    value, grad = value_and_grad(landscape, P.dtype)(P)
    expected_value, expected_grad = _autograd(landscape)(P)
    found = []
    if value.dtype != expected_value.dtype or grad.dtype != expected_grad.dtype:
        found.append(f"dtypes {value.dtype}, {grad.dtype}")
    for what, got, want in (("value", value, expected_value), ("grad", grad, expected_grad)):
        differ = _bits(got) != _bits(want)
        if differ.any():
            at = np.argwhere(differ.reshape(len(P), -1).any(axis=1))[:3, 0]
            found.append(f"{what} at {P[at].tolist()}: {got[at].tolist()} != {want[at].tolist()}")
    return found


def test_every_registered_function_has_an_explicit_gradient() -> None:
    """The coverage comes from the registry: a new function without one fails here."""
    missing = [name for name, f in LANDSCAPES.items() if f._explicit_gradient() is None]
    assert missing == []
    for name, _ in CASES:
        assert get_landscape(name)._explicit_gradient() is not None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_the_explicit_gradient_equals_autograd_bit_for_bit(
    name: str, params: dict[str, float], dtype: torch.dtype
) -> None:
    landscape = get_landscape(name, **params)
    for seed in range(2):
        assert _differences(landscape, _positions(dtype, seed=seed)) == []


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_small_batches_use_the_same_bits(name: str, dtype: torch.dtype) -> None:
    """Sizes below and between torch's vector widths (scalar tails of the kernels)."""
    landscape = LANDSCAPES[name]
    for c in (1, 2, 7, 37):
        assert _differences(landscape, _positions(dtype, c=c)) == []


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_the_landscape_level_contract(name: str, dtype: torch.dtype) -> None:
    """``(x, y) -> (value, grad_x, grad_y)``: autograd's gradients of ``value.sum()`` for two
    separate tensors (no +0.0 from a shared ``(C, 2)`` gradient)."""
    landscape = LANDSCAPES[name]
    explicit = landscape._explicit_gradient()
    assert explicit is not None
    P = _positions(dtype).contiguous()
    x, y = P[:, 0].clone().requires_grad_(True), P[:, 1].clone().requires_grad_(True)
    value = landscape(x, y)
    grad_x, grad_y = torch.autograd.grad(value.sum(), (x, y))
    got = explicit(x.detach(), y.detach())
    for a, b in zip(got, (value, grad_x, grad_y), strict=True):
        assert _same_bits(a, b)


def _off_by_one_unit(explicit: ValueAndPartials, row: int) -> ValueAndPartials:
    def perturbed(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        value, grad_x, grad_y = explicit(x, y)
        grad_y = grad_y.clone()
        grad_y[row] = torch.nextafter(grad_y[row], torch.tensor(float("inf"), dtype=y.dtype))
        return value, grad_x, grad_y

    return perturbed


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_gradient_one_unit_off_in_one_element_is_caught(dtype: torch.dtype) -> None:
    """The comparison can fail: the last bit of one gradient element is caught."""
    base = get_landscape("rosenbrock", b=2)
    explicit = base._explicit_gradient()
    assert explicit is not None
    P = _positions(dtype)
    wrong = dataclasses.replace(
        base, _explicit=ExplicitGradient(base.function, _off_by_one_unit(explicit, 5))
    )
    assert wrong._explicit_gradient() is not None
    (found,) = _differences(wrong, P)
    assert found.startswith("grad at")


def test_the_engine_s_zero_sign_matters() -> None:
    """At the minimum the explicit grad_x is -(0.0) + -(0.0) = -0.0, autograd's (C, 2)
    gradient +0.0: the engine's ``+ 0.0`` is needed, and the bit comparison sees signs."""
    landscape = get_landscape("rosenbrock")  # minimum (1, 1)
    P = torch.tensor([[1.0, 1.0], [-0.0, 0.0], [0.0, -0.0]]).t().contiguous().t()
    _, grad = _autograd(landscape)(P)
    explicit = landscape._explicit_gradient()
    assert explicit is not None
    _, grad_x, grad_y = explicit(P[:, 0], P[:, 1])
    raw = torch.stack((grad_x, grad_y), 1)
    assert not torch.signbit(grad[grad == 0]).any()
    assert torch.signbit(raw[raw == 0]).any()  # -0.0 before the engine's + 0.0


def test_a_user_s_function_under_a_registered_name_runs_through_autograd() -> None:
    """A landscape rebuilt around another function (it may branch on values) never uses the
    registered function's explicit gradient."""
    base = get_landscape("rosenbrock")
    calls = 0

    def branching(x: Any, y: Any) -> Any:
        nonlocal calls
        calls += 1
        return torch.where(x > 0, base(x, y), 2 * base(x, y))

    other: Landscape = dataclasses.replace(base, function=branching)
    assert other._explicit_gradient() is None
    P = _positions(torch.float32, c=50)
    value, grad = value_and_grad(other, torch.float32)(P)
    assert calls == 1
    expected = _autograd(other)(P)
    assert _same_bits(value, expected[0]) and _same_bits(grad, expected[1])
    # the registered gradient carried along explicitly still belongs to another function
    counted = dataclasses.replace(base, function=branching, _explicit=base._explicit)
    value_and_grad(counted, torch.float32)(P)
    assert calls == 3  # once by value_and_grad, once by the reference above


def test_other_dtypes_run_through_autograd() -> None:
    landscape = get_landscape("rosenbrock")
    P = _positions(torch.float64, c=20).to(torch.bfloat16)
    value, grad = value_and_grad(landscape, torch.bfloat16)(P)
    expected = _autograd(landscape)(P)
    assert _same_bits(value, expected[0]) and _same_bits(grad, expected[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_a_map_with_the_explicit_gradient_equals_the_map_by_autograd(
    name: str, dtype: torch.dtype
) -> None:
    """run_grid end to end: every position and value of 300 steps of momentum, with the
    explicit gradient and with autograd (the same function without it), bit for bit."""
    landscape = LANDSCAPES[name]
    plain = dataclasses.replace(landscape, _explicit=None)
    optimizer = resolve_optimizer("momentum")
    hparams = [{"lr": lr, "beta": beta} for lr in (1e-4, 1e-3, 0.01, 0.3) for beta in (0, 0.9)]
    runs = [
        run_grid(f, optimizer, hparams, steps=300, dtype=dtype, record=True)
        for f in (landscape, plain)
    ]
    assert runs[0].positions is not None and runs[1].positions is not None
    assert runs[0].values is not None and runs[1].values is not None
    assert np.array_equal(runs[0].positions, runs[1].positions, equal_nan=True)
    assert np.array_equal(runs[0].values, runs[1].values, equal_nan=True)
    assert np.array_equal(runs[0].diverged_step, runs[1].diverged_step)
    assert np.array_equal(runs[0].reached_step, runs[1].reached_step)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_backward_from_ones_equals_backward_from_the_sum(name: str, dtype: torch.dtype) -> None:
    """The two starts of autograd's backward pass give the same bits (values, gradients,
    signs of zero), for sizes that use torch's vector loops and their tails."""
    landscape = LANDSCAPES[name]
    for c in (1, 37, 4096):
        P = _positions(dtype, c=c)
        from_sum = _autograd(landscape, from_ones=False)
        from_ones = _autograd(landscape, from_ones=True)
        for _ in range(2):  # the second call reuses the kept ones
            (v1, g1), (v2, g2) = from_sum(P), from_ones(P)
            assert _same_bits(v1, v2) and _same_bits(g1, g2)


def test_a_map_in_a_fresh_process_does_not_import_sympy() -> None:
    """Checking a ``grad_outputs`` tensor imports sympy (0.45 s): a one-off map must not pay
    it (the explicit gradient checks nothing; autograd's backward starts from the sum where
    that module is not loaded)."""
    code = (
        "import sys\n"
        "from optiscope import sensitivity_map\n"
        "sensitivity_map('rosenbrock a=1 b=2', 'momentum', {'lr': [0.01, 0.1], 'beta': [0.5]},"
        " steps=3)\n"
        "print(sorted(m for m in ('sympy', _GRAD) if m in sys.modules))\n"
    )
    code = code.replace("_GRAD", repr(_GRAD_OUTPUTS_CHECK))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
