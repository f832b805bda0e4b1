"""2-D test functions with known minima, default plotting domains and sensible starts."""

from optiscope.landscapes._base import Landscape, Point
from optiscope.landscapes._functions import (
    beale,
    booth,
    himmelblau,
    quadratic,
    rastrigin,
    rosenbrock,
    saddle,
)
from optiscope.landscapes._registry import LANDSCAPES, get_landscape, parse_landscape

__all__ = [
    "LANDSCAPES",
    "Landscape",
    "Point",
    "beale",
    "booth",
    "get_landscape",
    "himmelblau",
    "parse_landscape",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
]
