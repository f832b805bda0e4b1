"""What every 2-D test function knows: its formula, minima, plotting domain and a start.

A :class:`Landscape` evaluates on torch tensors (so autograd gives its gradient) and on NumPy
arrays or plain floats (so a grid can be drawn), with the same expression for both.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from optiscope.errors import ConfigError

__all__ = [
    "ExplicitGradient",
    "Landscape",
    "Point",
    "ValueAndPartials",
    "check_param",
    "cos",
    "points",
    "rounded_product",
    "sqrt",
]

Point = tuple[float, float]
ArrayT = TypeVar("ArrayT", Tensor, np.ndarray, float)

#: ``(x, y) -> (value, grad_x, grad_y)`` on tensors of one shape: the function's value and
#: the gradients autograd gives ``x`` and ``y`` for ``value.sum()``, bit for bit.
ValueAndPartials = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]


@dataclass(frozen=True)
class ExplicitGradient:
    """A registered function's value and gradient written out as the ops autograd runs.

    Autograd builds and walks a graph of a dozen small ops at every step of a 2-D run, which
    costs more than the ops themselves. ``value_and_grad`` performs the same torch ops as the
    forward pass and autograd's backward formulas, on the same operands, in the same order,
    so the value and both gradients are autograd's to the bit (signs of zero, infinities and
    NaN included; ``tests/test_explicit_gradient.py`` checks every registered function). It
    leaves out only what changes no bit: multiplying by the ones that backward starts from,
    and ``pow(t, 1.0)``, a copy.

    How to write one: print the ops autograd runs and transcribe them, operand order
    included (``a + b`` and ``b + a`` differ in which NaN comes out when both are NaN)::

        from torch.fx.experimental.proxy_tensor import make_fx

        def grads(x, y):
            x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
            return torch.autograd.grad(landscape(x, y).sum(), (x, y))

        print(make_fx(grads)(torch.zeros(8), torch.zeros(8)).code)

    A product of two numbers that autograd computes on tensors (the ``0.5`` of the quadratic
    times its ``condition``) is rounded in the tensor's dtype (:func:`rounded_product`).

    Attributes:
        function: the function it differentiates; the gradient is used only while a
            landscape's ``function`` is this very object (a landscape rebuilt around another
            function, even under a registered name, runs through autograd).
        value_and_grad: ``(x, y) -> (value, grad_x, grad_y)``, for float32 and float64.
    """

    function: Callable[[Any, Any], Any]
    value_and_grad: ValueAndPartials


def cos(value: ArrayT) -> ArrayT:
    """``cos`` of a tensor (keeps autograd) or of a NumPy array or float."""
    if isinstance(value, Tensor):
        return torch.cos(value)
    return np.cos(value)  # type: ignore[no-any-return]


def sqrt(value: ArrayT) -> ArrayT:
    """Square root of a tensor, NumPy array or float.

    NumPy's (and so a float's) is correctly rounded; torch's CPU one is not on every machine
    (on the AMD EPYC about 1.3% of float64 inputs come out one unit in the last place off), so
    code that must agree with a float computation (a map's distances against a race's) passes
    NumPy arrays. ``** 0.5`` is not used: torch computes it as a general power, in parallel,
    which is slow.
    """
    if isinstance(value, Tensor):
        return torch.sqrt(value)
    return np.sqrt(value)  # type: ignore[no-any-return]


@functools.cache
def rounded_product(a: float, b: float, dtype: torch.dtype) -> float:
    """``a * b`` rounded as torch rounds the product of two tensors of ``dtype``.

    Where autograd multiplies two constants on tensors (``0.5`` times a parameter), an
    explicit gradient multiplies by this number instead: it is exact in ``dtype``, so a
    tensor times it gives the same bits.
    """
    return float(torch.tensor(a, dtype=dtype) * torch.tensor(b, dtype=dtype))


def check_param(
    landscape: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    low_open: bool = False,
    example: str = "",
) -> float:
    """Check one landscape parameter and return it as a float.

    Raises:
        ConfigError: saying which parameter, the bad value, what is allowed and an example.
    """
    hint = f" Example: {example}." if example else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{landscape}: `{name}` = {value!r} ({type(value).__name__}) must be a number.{hint}"
        )
    if not math.isfinite(value):
        raise ConfigError(f"{landscape}: `{name}` = {value!r} must be finite.{hint}")
    if low is not None and (value <= low if low_open else value < low):
        needs = f"{name} {'>' if low_open else '>='} {low:g}"
        raise ConfigError(
            f"{landscape}: `{name}` = {value!r} is too small; it needs {needs}.{hint}"
        )
    return float(value)


@dataclass(frozen=True)
class Landscape:
    """A 2-D test function with known minima.

    Call it as ``f(x, y)`` on tensors (differentiable), NumPy arrays or floats of equal shape.

    Attributes:
        name: registry name (``rosenbrock``).
        title: display name (``Rosenbrock``).
        formula: the function in plain text, with its parameters' values.
        function: ``(x, y) -> value``, elementwise.
        minima: the global minima (x, y); the distance to the minimum is to the nearest one.
        min_value: the function's value at every global minimum.
        domain: default plotting window, ``((x_low, x_high), (y_low, y_high))``.
        start: a start from which the usual optimizers find a minimum, and that shows the
            function's difficulty.
        params: the function's parameters and their values (``(("a", 1.0), ("b", 100.0))``).
        factory: rebuilds the function with other parameters (see :meth:`with_params`).
        notes: what is special about it (local minima, saddle points).
        saddle_points: stationary points that are not minima, where known.
    """

    name: str
    title: str
    formula: str
    function: Callable[[Any, Any], Any] = field(repr=False, compare=False)
    minima: tuple[Point, ...]
    min_value: float
    domain: tuple[Point, Point]
    start: Point
    params: tuple[tuple[str, float], ...] = ()
    factory: Callable[..., Landscape] | None = field(default=None, repr=False, compare=False)
    notes: str = ""
    saddle_points: tuple[Point, ...] = ()
    #: the registered functions' hand-written gradient (see :class:`ExplicitGradient`);
    #: private: the engine's fast path, not part of a landscape's description
    _explicit: ExplicitGradient | None = field(default=None, repr=False, compare=False)

    def _explicit_gradient(self) -> ValueAndPartials | None:
        """The hand-written ``(x, y) -> (value, grad_x, grad_y)`` of this very function, or
        ``None`` (a user's function, or a registered one's replaced by another): for the
        engine, which otherwise runs autograd."""
        explicit = self._explicit
        if explicit is None or explicit.function is not self.function:
            return None
        return explicit.value_and_grad

    def __call__(self, x: ArrayT, y: ArrayT) -> ArrayT:
        """The function's value at ``(x, y)``, elementwise; tensors keep their autograd graph."""
        return self.function(x, y)  # type: ignore[no-any-return]

    @property
    def param_dict(self) -> dict[str, float]:
        """The parameters as a dict (``{"a": 1.0, "b": 100.0}``)."""
        return dict(self.params)

    @property
    def label(self) -> str:
        """Display name with parameters: ``Rosenbrock (a=1, b=2)``."""
        if not self.params:
            return self.title
        return f"{self.title} ({', '.join(f'{k}={v:g}' for k, v in self.params)})"

    def with_params(self, **params: float) -> Landscape:
        """The same function with some parameters changed (``rosenbrock.with_params(b=2)``).

        Raises:
            ConfigError: for a parameter this function does not have, or a bad value.
        """
        known = self.param_dict
        unknown = sorted(set(params) - set(known))
        if unknown:
            takes = ", ".join(known) if known else "no parameters"
            raise ConfigError(
                f"{self.title} has no parameter {', '.join(map(repr, unknown))}; it takes: {takes}."
            )
        if self.factory is None or not params:
            return self
        return self.factory(**{**known, **params})

    def distance_to_minimum(self, x: ArrayT, y: ArrayT) -> ArrayT:
        """Euclidean distance from ``(x, y)`` to the nearest global minimum, elementwise."""
        distances = [sqrt((x - mx) * (x - mx) + (y - my) * (y - my)) for mx, my in self.minima]
        nearest = distances[0]
        for other in distances[1:]:
            if isinstance(nearest, Tensor):
                nearest = torch.minimum(nearest, other)
            else:
                nearest = np.minimum(nearest, other)
        return nearest

    def nearest_minimum(self, x: float, y: float) -> Point:
        """The global minimum closest to ``(x, y)``."""
        return min(self.minima, key=lambda m: (m[0] - x) ** 2 + (m[1] - y) ** 2)

    def grid(
        self,
        n: int = 200,
        domain: tuple[Point, Point] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values on an ``n`` x ``n`` grid, for contour plots.

        Args:
            n: points per axis.
            domain: ``((x_low, x_high), (y_low, y_high))``; default :attr:`domain`.

        Returns:
            ``(X, Y, Z)``, each ``(n, n)`` float64 (rows follow y, columns follow x).
        """
        (x_low, x_high), (y_low, y_high) = domain or self.domain
        X, Y = np.meshgrid(np.linspace(x_low, x_high, n), np.linspace(y_low, y_high, n))
        return X, Y, np.asarray(self(X, Y), dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (for listings and the web page)."""
        return {
            "name": self.name,
            "title": self.title,
            "formula": self.formula,
            "params": self.param_dict,
            "minima": [list(m) for m in self.minima],
            "min_value": self.min_value,
            "domain": [list(d) for d in self.domain],
            "start": list(self.start),
            "notes": self.notes,
        }


def points(values: Sequence[Sequence[float]]) -> tuple[Point, ...]:
    """Turn a list of pairs into a tuple of ``(float, float)`` points."""
    return tuple((float(x), float(y)) for x, y in values)
