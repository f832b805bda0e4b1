"""What every 2-D test function knows: its formula, minima, plotting domain and a start.

A :class:`Landscape` evaluates on torch tensors (so autograd gives its gradient) and on NumPy
arrays or plain floats (so a grid can be drawn), with the same expression for both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from optiscope.errors import ConfigError

__all__ = ["Landscape", "Point", "check_param", "cos", "points", "sqrt"]

Point = tuple[float, float]
ArrayT = TypeVar("ArrayT", Tensor, np.ndarray, float)


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
