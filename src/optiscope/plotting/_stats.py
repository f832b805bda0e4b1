r"""Small statistics for seed bands, in plain Python (no SciPy dependency).

The 95% interval of a mean over ``n`` seeds is

.. math:: \bar y \pm t_{0.975,\,n-1}\, s / \sqrt{n}

with ``s`` the sample standard deviation and ``t`` Student's t quantile. The quantile is found
by bisection on the t distribution's CDF, written with the regularized incomplete beta function:
for ``t >= 0``, :math:`F(t) = 1 - \tfrac12 I_{\nu/(\nu+t^2)}(\nu/2, 1/2)`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from optiscope.errors import ConfigError

__all__ = ["BANDS", "LOSS_FLOOR", "Interval", "interval", "t_cdf", "t_quantile"]

#: What a band shows: ``std`` (mean ± one sample standard deviation of the seeds) or ``ci``
#: (a t-interval of the mean at the chosen confidence).
BANDS: tuple[str, ...] = ("std", "ci")

#: The least value a validation metric can take: RMSE, log loss and accuracy are never
#: negative, so bands and intervals stop there (each metric's ``floor`` in
#: :data:`optiscope.settings.METRICS`).
LOSS_FLOOR = 0.0


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 400):
        # Even step: m (b - m) x / ((a + 2m - 1)(a + 2m)).
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + even * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + even / c
        c = c if abs(c) > tiny else tiny
        result *= d * c
        # Odd step: -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 + odd * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + odd / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        result *= step
        if abs(step - 1.0) < 1e-15:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x)
    log_front -= math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # The fraction converges fast below the mean of the distribution; use symmetry above it.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function with ``df`` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``0 < p < 1``).

    Examples:
        >>> round(t_quantile(0.975, 4), 4)  # the 95% two-sided value for 5 seeds
        2.7764
    """
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p!r}, df={df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * max(1.0, high):
            break
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Interval:
    """A mean and a band around it.

    Attributes:
        n: how many values it summarizes.
        mean: their mean.
        std: their sample standard deviation (NaN for one value).
        low, high: the band's edges (equal to the mean for one value: no spread is known).
    """

    n: int
    mean: float
    std: float
    low: float
    high: float


def interval(
    values: Sequence[float],
    *,
    band: str = "std",
    confidence: float = 0.95,
    floor: float = -math.inf,
) -> Interval:
    """Summarize values (one per seed): mean and a ``std`` or ``ci`` band.

    Args:
        values: finite numbers.
        band: ``std`` (mean ± one sample standard deviation) or ``ci`` (t-interval of the
            mean at ``confidence``).
        confidence: for ``ci``, the coverage (0.95 for a 95% interval).
        floor: the least value the quantity can take (``LOSS_FLOOR``, 0, for an RMSE); a
            band edge below it is raised to it (a symmetric band of a mean near zero would
            otherwise claim impossible values).

    Raises:
        ConfigError: for an unknown band or a confidence outside (0, 1).
    """
    if band not in BANDS:
        raise ConfigError(f"band = {band!r} is unknown; choose one of: {', '.join(BANDS)}.")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence = {confidence!r} must be between 0 and 1, e.g. 0.95.")
    n = len(values)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(1, mean, math.nan, mean, mean)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = std if band == "std" else t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Interval(n, mean, std, max(mean - half, floor), mean + half)
