"""Test functions: gradients against finite differences, minima as stated, both array kinds.

Every registered landscape, plus variants with non-default parameters, is checked in float64:
autograd's gradient against central differences, the stated minima against a vanishing
gradient, a positive definite Hessian and a dense grid that finds nothing lower.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optiscope.errors import ConfigError
from optiscope.landscapes import LANDSCAPES, Landscape, get_landscape, parse_landscape

VARIANTS: list[Landscape] = [
    *LANDSCAPES.values(),
    get_landscape("rosenbrock", b=2),
    get_landscape("rosenbrock", a=-0.5, b=10),
    get_landscape("rastrigin", A=3),
    get_landscape("quadratic", condition=50),
]
IDS = [f.label for f in VARIANTS]


def _grad(f: Landscape, x: float, y: float) -> torch.Tensor:
    p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(p[0], p[1]), p)
    return g  # (2,)


def _hessian(f: Landscape, x: float, y: float) -> torch.Tensor:
    p = torch.tensor([x, y], dtype=torch.float64)
    return torch.autograd.functional.hessian(lambda q: f(q[0], q[1]), p)  # (2, 2)


@pytest.mark.parametrize("f", VARIANTS, ids=IDS)
def test_gradient_matches_central_differences(f: Landscape) -> None:
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1) = f.domain
    h = 1e-6
    for x, y in zip(rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20), strict=True):
        g = _grad(f, float(x), float(y))
        fd = torch.tensor(
            [
                (f(x + h, y) - f(x - h, y)) / (2 * h),
                (f(x, y + h) - f(x, y - h)) / (2 * h),
            ],
            dtype=torch.float64,
        )
        # central differences err by about h^2 f''' + eps f / h: relative 1e-6 covers both
        scale = 1.0 + float(abs(f(x, y)))
        torch.testing.assert_close(g, fd, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("f", VARIANTS, ids=IDS)
def test_minima_are_stationary_and_local_minima(f: Landscape) -> None:
    for mx, my in f.minima:
        assert math.isclose(float(f(mx, my)), f.min_value, abs_tol=1e-12)
        gradient = _grad(f, mx, my)
        assert float(gradient.abs().max()) < 1e-9, f"gradient {gradient.tolist()} at {(mx, my)}"
        eigenvalues = torch.linalg.eigvalsh(_hessian(f, mx, my))
        assert float(eigenvalues.min()) > 0


@pytest.mark.parametrize("f", VARIANTS, ids=IDS)
def test_nothing_on_a_dense_grid_is_below_the_minimum(f: Landscape) -> None:
    _, _, Z = f.grid(401)
    assert float(Z.min()) >= f.min_value - 1e-9


@pytest.mark.parametrize("f", VARIANTS, ids=IDS)
def test_numpy_and_torch_agree_and_start_and_minima_are_in_the_domain(f: Landscape) -> None:
    X, Y, Z = f.grid(50)
    T = f(torch.from_numpy(X), torch.from_numpy(Y))
    np.testing.assert_allclose(T.numpy(), Z, rtol=1e-12, atol=1e-12)
    (x0, x1), (y0, y1) = f.domain
    for x, y in (*f.minima, f.start):
        assert x0 <= x <= x1 and y0 <= y <= y1


def test_saddle_points_are_stationary_and_not_minima() -> None:
    for f in LANDSCAPES.values():
        for sx, sy in f.saddle_points:
            assert float(_grad(f, sx, sy).abs().max()) < 1e-9
            assert float(torch.linalg.eigvalsh(_hessian(f, sx, sy)).min()) < 0


def test_exercise_rosenbrock_is_b2_and_canonical_is_b100() -> None:
    assert get_landscape("rosenbrock").param_dict == {"a": 1.0, "b": 100.0}
    f = get_landscape("rosenbrock", b=2)
    # (1 - x)^2 + 2 (y - x^2)^2 at the exercise's start (-1, 2): 4 + 2 * 1
    assert float(f(-1.0, 2.0)) == 6.0
    assert f.minima == ((1.0, 1.0),)
    assert get_landscape("rosenbrock", a=2).minima == ((2.0, 4.0),)


def test_himmelblau_has_four_distinct_minima_and_distance_is_to_the_nearest() -> None:
    f = LANDSCAPES["himmelblau"]
    assert len(set(f.minima)) == 4
    for mx, my in f.minima:
        assert f.nearest_minimum(mx + 0.1, my - 0.1) == (mx, my)
        assert math.isclose(float(f.distance_to_minimum(mx + 0.3, my)), 0.3, rel_tol=1e-12)


def test_quadratic_condition_number_is_the_hessians() -> None:
    f = get_landscape("quadratic", condition=25)
    eigenvalues = torch.linalg.eigvalsh(_hessian(f, 0.3, -0.2))
    assert math.isclose(float(eigenvalues.max() / eigenvalues.min()), 25.0, rel_tol=1e-12)


def test_parse_landscape_and_with_params() -> None:
    assert parse_landscape("rosenbrock a=1 b=2") == get_landscape("rosenbrock", b=2)
    assert parse_landscape("Himmelblau") == LANDSCAPES["himmelblau"]
    assert get_landscape("rosenbrock").with_params(b=2).formula == "(1 - x)^2 + 2 (y - x^2)^2"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: get_landscape("nope"), "unknown test function 'nope'; choose one of"),
        (lambda: get_landscape("rosenbrock", b=0), "`b` = 0 is too small; it needs b > 0"),
        (lambda: get_landscape("rosenbrock", c=1), "no parameter 'c'; it takes: a, b"),
        (lambda: get_landscape("himmelblau", a=1), "no parameter 'a'; it takes: no parameters"),
        (lambda: get_landscape("quadratic", condition=0.5), "condition >= 1"),
        (lambda: get_landscape("rastrigin", A=math.nan), "must be finite"),
        (lambda: parse_landscape("rosenbrock b"), "'b' is not key=value"),
        (lambda: parse_landscape("rosenbrock b=two"), "`b` = 'two' is not a number"),
    ],
)
def test_bad_landscapes_say_what_is_wrong(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(ConfigError, match=match):
        call()
