"""The 2-D test functions: Rosenbrock, Beale, Himmelblau, Rastrigin, Booth, a quadratic, a saddle.

Each factory checks its parameters and returns a :class:`Landscape`. Next to each function
is its value and gradient written out as the ops autograd runs (see
:class:`~optiscope.landscapes._base.ExplicitGradient`): the comments name autograd's
intermediate results (``g`` for the gradient flowing back into a term), each line is one of
its ops with the same operands in the same order, and a function whose formula changes
needs its gradient transcribed again (the tests compare every one with autograd).

The minima are exact where a closed form exists; Himmelblau's three irrational minima were
found with Newton's method in float64 (``tests/test_landscapes.py`` checks the gradient
vanishes there).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from optiscope.landscapes._base import (
    ExplicitGradient,
    Landscape,
    check_param,
    cos,
    points,
    rounded_product,
)

__all__ = ["beale", "booth", "himmelblau", "quadratic", "rastrigin", "rosenbrock", "saddle"]


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Landscape:
    """Rosenbrock's banana valley, ``(a - x)^2 + b (y - x^2)^2``.

    The canonical function has ``a = 1, b = 100``; the course exercise uses ``b = 2``, a much
    gentler valley. The minimum is ``(a, a^2)`` with value 0.

    Args:
        a: position of the minimum along x (any finite number).
        b: steepness of the valley walls (> 0).
    """
    a = check_param("rosenbrock", "a", a, example="get_landscape('rosenbrock', a=1, b=100)")
    b = check_param(
        "rosenbrock", "b", b, low=0.0, low_open=True, example="get_landscape('rosenbrock', b=2)"
    )

    def f(x: Any, y: Any) -> Any:
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r = torch.rsub(x, a)  # a - x
        d = torch.sub(y, torch.pow(x, 2))  # y - x^2
        value = torch.add(torch.pow(r, 2), torch.mul(torch.pow(d, 2), b))
        grad_y = torch.mul(d, 2.0).mul_(b)  # b * 2d: the gradient into d
        grad_x = torch.neg(grad_y).mul_(torch.mul(x, 2.0))  # -(b * 2d) * 2x
        grad_x.add_(torch.mul(r, 2.0).neg_())  # + -(2r)
        return value, grad_x, grad_y

    s = max(abs(a), 1.0)
    return Landscape(
        name="rosenbrock",
        title="Rosenbrock",
        formula=f"({a:g} - x)^2 + {b:g} (y - x^2)^2",
        function=f,
        minima=points([(a, a * a)]),
        min_value=0.0,
        domain=((-2 * s, 2 * s), (-s * s, 3 * s * s)),
        start=(-s, 2 * s * s),
        params=(("a", a), ("b", b)),
        factory=rosenbrock,
        _explicit=ExplicitGradient(f, value_and_grad),
        notes="a curved, flat-bottomed valley: easy to find, slow to follow",
    )


def beale() -> Landscape:
    """Beale's function: sharp ridges and a flat plateau; minimum ``(3, 0.5)`` with value 0."""

    def f(x: Any, y: Any) -> Any:
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        u1 = torch.add(torch.rsub(x, 1.5), torch.mul(x, y))  # 1.5 - x + xy
        y2 = torch.pow(y, 2)
        u2 = torch.add(torch.rsub(x, 2.25), torch.mul(x, y2))  # 2.25 - x + xy^2
        y3 = torch.pow(y, 3)
        u3 = torch.add(torch.rsub(x, 2.625), torch.mul(x, y3))  # 2.625 - x + xy^3
        value = torch.add(torch.pow(u1, 2), torch.pow(u2, 2)).add_(torch.pow(u3, 2))
        # autograd walks the terms last to first; x and y each gather six contributions
        g3 = torch.mul(u3, 2.0)
        grad_y = torch.mul(g3, x).mul_(torch.pow(y, 2.0).mul_(3.0))  # g3 x * 3y^2
        grad_x = torch.mul(g3, y3).add_(g3.neg_())  # g3 y^3 - g3
        g2 = torch.mul(u2, 2.0)
        grad_x.add_(torch.mul(g2, y2))  # + g2 y^2
        grad_y.add_(torch.mul(g2, x).mul_(torch.mul(y, 2.0)))  # + g2 x * 2y
        grad_x.add_(g2.neg_())  # - g2
        g1 = torch.mul(u1, 2.0)
        grad_x.add_(torch.mul(g1, y))  # + g1 y
        grad_y.add_(torch.mul(g1, x))  # + g1 x
        grad_x.add_(g1.neg_())  # - g1
        return value, grad_x, grad_y

    return Landscape(
        name="beale",
        title="Beale",
        formula="(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        function=f,
        minima=points([(3.0, 0.5)]),
        min_value=0.0,
        domain=((-4.5, 4.5), (-4.5, 4.5)),
        start=(1.0, 1.5),
        factory=None,
        _explicit=ExplicitGradient(f, value_and_grad),
        notes="values span ten orders of magnitude; flat near y = 1",
    )


# Newton's method in float64 from the usual rounded values; the gradient there is below 1e-12.
_HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.283185991286169),
    (3.5844283403304917, -1.8481265269644034),
)
_HIMMELBLAU_MAXIMUM = (-0.2708445906673476, -0.9230385564799816)


def himmelblau() -> Landscape:
    """Himmelblau's function, ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``: four minima, value 0."""

    def f(x: Any, y: Any) -> Any:
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        u1 = torch.add(torch.pow(x, 2), y).sub_(11)  # x^2 + y - 11
        u2 = torch.add(x, torch.pow(y, 2)).sub_(7)  # x + y^2 - 7
        value = torch.add(torch.pow(u1, 2), torch.pow(u2, 2))
        g2 = torch.mul(u2, 2.0)
        g1 = torch.mul(u1, 2.0)
        grad_y = torch.mul(g2, torch.mul(y, 2.0)).add_(g1)  # g2 * 2y + g1
        grad_x = torch.add(g2, torch.mul(g1, torch.mul(x, 2.0)))  # g2 + g1 * 2x
        return value, grad_x, grad_y

    return Landscape(
        name="himmelblau",
        title="Himmelblau",
        formula="(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        function=f,
        minima=points(_HIMMELBLAU_MINIMA),
        min_value=0.0,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        start=(-0.3, -0.9),
        _explicit=ExplicitGradient(f, value_and_grad),
        notes=(
            "four equal minima; the start sits next to the local maximum at (-0.2708, -0.9230), "
            "so which minimum an optimizer reaches depends on its path"
        ),
        saddle_points=(_HIMMELBLAU_MAXIMUM,),
    )


def rastrigin(A: float = 10.0) -> Landscape:
    """Rastrigin's function, ``2A + x^2 - A cos(2 pi x) + y^2 - A cos(2 pi y)``.

    The global minimum is ``(0, 0)`` with value 0; there is a local minimum near every point
    with integer coordinates, which is what makes it hard.

    Args:
        A: height of the ripples (>= 0; 0 leaves a plain bowl).
    """
    A = check_param("rastrigin", "A", A, low=0.0, example="get_landscape('rastrigin', A=10)")
    two_pi = 2 * math.pi

    def f(x: Any, y: Any) -> Any:
        return 2 * A + x**2 - A * cos(two_pi * x) + y**2 - A * cos(two_pi * y)

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        wx, wy = torch.mul(x, two_pi), torch.mul(y, two_pi)
        value = torch.add(torch.pow(x, 2), 2 * A).sub_(torch.mul(torch.cos(wx), A))
        value.add_(torch.pow(y, 2)).sub_(torch.mul(torch.cos(wy), A))
        # -A cos(w): (-1 * A) * -sin(w) * 2 pi; then + 2y (or 2x)
        grad_y = torch.sin(wy).neg_().mul_(-A).mul_(two_pi).add_(torch.mul(y, 2.0))
        grad_x = torch.sin(wx).neg_().mul_(-A).mul_(two_pi).add_(torch.mul(x, 2.0))
        return value, grad_x, grad_y

    return Landscape(
        name="rastrigin",
        title="Rastrigin",
        formula=f"{2 * A:g} + x^2 - {A:g} cos(2 pi x) + y^2 - {A:g} cos(2 pi y)",
        function=f,
        minima=points([(0.0, 0.0)]),
        min_value=0.0,
        domain=((-5.12, 5.12), (-5.12, 5.12)),
        start=(-2.2, 1.8),
        params=(("A", A),),
        factory=rastrigin,
        _explicit=ExplicitGradient(f, value_and_grad),
        notes="a local minimum near every integer point; gradient methods stop in the nearest",
    )


def booth() -> Landscape:
    """Booth's function, ``(x + 2y - 7)^2 + (2x + y - 5)^2``: a tilted bowl, minimum ``(1, 3)``."""

    def f(x: Any, y: Any) -> Any:
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        u1 = torch.add(x, torch.mul(y, 2)).sub_(7)  # x + 2y - 7
        u2 = torch.add(torch.mul(x, 2), y).sub_(5)  # 2x + y - 5
        value = torch.add(torch.pow(u1, 2), torch.pow(u2, 2))
        g2 = torch.mul(u2, 2.0)
        g1 = torch.mul(u1, 2.0)
        grad_x = torch.mul(g2, 2).add_(g1)  # g2 * 2 + g1
        grad_y = torch.add(g2, g1.mul_(2))  # g2 + g1 * 2
        return value, grad_x, grad_y

    return Landscape(
        name="booth",
        title="Booth",
        formula="(x + 2y - 7)^2 + (2x + y - 5)^2",
        function=f,
        minima=points([(1.0, 3.0)]),
        min_value=0.0,
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        start=(-8.0, -6.0),
        _explicit=ExplicitGradient(f, value_and_grad),
        notes="a quadratic bowl with condition number 9, tilted 45 degrees",
    )


def quadratic(condition: float = 10.0) -> Landscape:
    """An ill-conditioned bowl, ``(x^2 + condition * y^2) / 2``: minimum ``(0, 0)``.

    The Hessian is ``diag(1, condition)``, so ``condition`` is its condition number: plain
    gradient descent needs ``lr < 2 / condition`` and then crawls along x.

    Args:
        condition: ratio of the largest to the smallest curvature (>= 1).
    """
    k = check_param(
        "quadratic",
        "condition",
        condition,
        low=1.0,
        example="get_landscape('quadratic', condition=50)",
    )

    def f(x: Any, y: Any) -> Any:
        return 0.5 * (x**2 + k * y**2)

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        value = torch.add(torch.pow(x, 2), torch.mul(torch.pow(y, 2), k)).mul_(0.5)
        # the gradient into the sum is 0.5 (a tensor), times k for y: rounded in the dtype
        grad_y = torch.mul(y, 2.0).mul_(rounded_product(0.5, k, y.dtype))  # 0.5k * 2y
        grad_x = torch.mul(x, 2.0).mul_(0.5)  # 0.5 * 2x
        return value, grad_x, grad_y

    return Landscape(
        name="quadratic",
        title="Quadratic",
        formula=f"(x^2 + {k:g} y^2) / 2",
        function=f,
        minima=points([(0.0, 0.0)]),
        min_value=0.0,
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        start=(-8.0, 6.0),
        params=(("condition", k),),
        factory=quadratic,
        _explicit=ExplicitGradient(f, value_and_grad),
        notes="condition number = `condition`: steps that suit y are too small for x",
    )


def saddle() -> Landscape:
    """A saddle between two minima, ``x^2 - 2 y^2 + y^4``.

    The origin is a saddle point (value 0); the minima are ``(0, 1)`` and ``(0, -1)`` with
    value -1. Starting almost on the x-axis, an optimizer slows down near the saddle before
    it escapes.
    """

    def f(x: Any, y: Any) -> Any:
        return x**2 - 2 * y**2 + y**4

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        value = torch.sub(torch.pow(x, 2), torch.mul(torch.pow(y, 2), 2)).add_(torch.pow(y, 4))
        # 4y^3 + (-1 * 2) * 2y
        grad_y = torch.pow(y, 3.0).mul_(4.0).add_(torch.mul(y, 2.0).mul_(-2))
        grad_x = torch.mul(x, 2.0)
        return value, grad_x, grad_y

    return Landscape(
        name="saddle",
        title="Saddle",
        formula="x^2 - 2 y^2 + y^4",
        function=f,
        minima=points([(0.0, 1.0), (0.0, -1.0)]),
        min_value=-1.0,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        start=(-1.8, 0.01),
        _explicit=ExplicitGradient(f, value_and_grad),
        notes="a saddle point at (0, 0): gradients vanish there, so escaping takes time",
        saddle_points=((0.0, 0.0),),
    )
