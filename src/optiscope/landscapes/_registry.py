"""The landscape registry: adding a test function is one factory and one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from optiscope.errors import ConfigError
from optiscope.grammar import parse_named
from optiscope.landscapes._base import Landscape
from optiscope.landscapes._functions import (
    beale,
    booth,
    himmelblau,
    quadratic,
    rastrigin,
    rosenbrock,
    saddle,
)

__all__ = ["LANDSCAPES", "get_landscape", "parse_landscape"]

_FACTORIES: tuple[Callable[[], Landscape], ...] = (
    rosenbrock,
    beale,
    himmelblau,
    rastrigin,
    booth,
    quadratic,
    saddle,
)

#: Every test function with its default parameters, by name.
LANDSCAPES: Mapping[str, Landscape] = {f().name: f() for f in _FACTORIES}


def get_landscape(name: str | Landscape, **params: float) -> Landscape:
    """Look up a test function by name (case-insensitive), with parameters changed.

    Args:
        name: a registered name (see :data:`LANDSCAPES`) or a :class:`Landscape`.
        **params: the function's own parameters (``a``, ``b`` for Rosenbrock); anything else
            is an error.

    Returns:
        The landscape.

    Raises:
        ConfigError: for an unknown name, a parameter the function does not have or a bad
            value.

    Examples:
        >>> get_landscape("rosenbrock", b=2).formula
        '(1 - x)^2 + 2 (y - x^2)^2'
    """
    if isinstance(name, Landscape):
        return name.with_params(**params)
    try:
        landscape = LANDSCAPES[str(name).lower()]
    except KeyError:
        raise ConfigError(
            f"unknown test function {name!r}; choose one of: {', '.join(LANDSCAPES)} "
            "(`optiscope functions` lists them)."
        ) from None
    return landscape.with_params(**params)


def parse_landscape(text: str) -> Landscape:
    """Parse ``"rosenbrock a=1 b=2"``: a name, then ``key=value`` parameters, with the one
    grammar of :func:`optiscope.grammar.parse_named`.

    Raises:
        ConfigError: for an unknown name or parameter, or a value that is not a number.
    """
    name, settings = parse_named(text, example="'rosenbrock a=1 b=2'")
    params: dict[str, float] = {}
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"in {text!r}: `{key}` = {value!r} is not a number.")
        params[key] = float(value)
    return get_landscape(name, **params)
