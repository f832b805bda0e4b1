r"""Expected best result after ``k`` random trials of a grid, with bootstrap bands.

"How good is an optimizer?" depends on how much tuning it gets. Dodge et al. (2019, "Show Your
Work: Improved Reporting of Experimental Results", https://arxiv.org/abs/1909.03004) plot the
expected best validation score after ``k`` hyperparameter trials against ``k``. Their estimator
draws the ``k`` trials from the ``N`` observed ones *with* replacement, which is biased; Tang et
al. (2020, "Showing Your Work Doesn't Always Work", Tang, Lee, Xin, Liu, Yu and Lin, ACL) give the
unbiased one, which draws them *without* replacement. With the ``N`` values sorted so that
``v_(1)`` is the worst and ``v_(N)`` the best,

.. math::

    \hat V_k = \sum_{i=k}^{N} \frac{\binom{i-1}{k-1}}{\binom{N}{k}}\, v_{(i)}

(``v_(i)`` is the best of a ``k``-subset exactly when the other ``k - 1`` members come from the
``i - 1`` worse values). It equals the mean, over all :math:`\binom{N}{k}` subsets of size ``k``,
of each subset's best value: a U-statistic, so it is unbiased for the expected best of ``k``
independent trials from the distribution the grid was drawn from (Dodge et al. 2021, "Expected
Validation Performance and Estimation of a Random Variable's Maximum",
https://arxiv.org/abs/2110.00613, compare it with the other estimators).

Runs that diverged are failed trials: they have no value. The best of ``k`` trials then exists
only if one of them finished; this module returns the probability that all ``k`` failed and the
expected best *given* that one finished, both exact (the same sum, restricted to finished
values). Seeds are handled as in a real tuning run: one trial trains one config with one seed;
the estimates over seeds are averaged (a random seed per tuning run).

Bands: the grid's configs are resampled with replacement (the same resample for every seed, so
the pairing of seeds stays) and the whole curve is recomputed per resample; the band is the
percentile interval of the resampled curves (Efron and Tibshirani 1993, ch. 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from optiscope.errors import ConfigError

__all__ = [
    "GOALS",
    "BestOfK",
    "best_of_k",
    "bootstrap_best_of_k",
    "paired_improvement",
]

Goal = Literal["min", "max"]

#: Which way a metric improves: ``min`` (losses, RMSE) or ``max`` (accuracy).
GOALS: tuple[str, ...] = ("min", "max")

Array = NDArray[np.float64]


@lru_cache(maxsize=64)
def _weights(n: int) -> Array:
    """``W[j, k-1]``: the chance that sorted value ``j`` (0 = best) is the best of a random
    ``k``-subset of ``n``: ``C(n - 1 - j, k - 1) / C(n, k)``. Shape ``(n, n)``.

    Exact integer binomials, divided once (Python rounds an int ratio correctly), so no
    cancellation for grids of hundreds of configs.
    """
    table = np.zeros((n, n))
    for k in range(1, n + 1):
        total = math.comb(n, k)
        for j in range(n - k + 1):
            table[j, k - 1] = math.comb(n - 1 - j, k - 1) / total
    return table


@lru_cache(maxsize=64)
def _all_failed(n: int) -> Array:
    """``F[f, k-1]``: the chance that a random ``k``-subset of ``n`` lies within ``f`` failed
    values: ``C(f, k) / C(n, k)``. Shape ``(n + 1, n)``; exact binomials, as :func:`_weights`."""
    table = np.zeros((n + 1, n))
    for k in range(1, n + 1):
        total = math.comb(n, k)
        for f in range(k, n + 1):
            table[f, k - 1] = math.comb(f, k) / total
    return table


def _check_goal(goal: str) -> None:
    if goal not in GOALS:
        raise ConfigError(f"goal = {goal!r} is unknown; choose one of: {', '.join(GOALS)}.")


def _curves(values: Array, goal: str) -> tuple[Array, Array]:
    """Expected best given success and P(all failed), per budget, from ``(..., S, N)`` values
    (NaN or inf: failed). Returns two arrays of shape ``(..., N)``."""
    n = values.shape[-1]
    finite = np.isfinite(values)
    # Best first: ascending for a loss, descending for a score; failures sort last.
    keyed = np.where(finite, values if goal == "min" else -values, np.inf)
    order = np.argsort(keyed, axis=-1, kind="stable")
    ranked = np.take_along_axis(np.where(finite, values, 0.0), order, axis=-1)  # (..., S, N)
    ok = np.take_along_axis(finite, order, axis=-1).astype(np.float64)  # (..., S, N)
    weights = _weights(n)  # (N, K)
    failed = _all_failed(n)[n - finite.sum(axis=-1)].mean(axis=-2)  # (..., K): all k failed
    total = (ranked * ok) @ weights  # (..., S, K): E[best · 1{some trial finished}]
    with np.errstate(invalid="ignore", divide="ignore"):
        best = total.mean(axis=-2) / (1.0 - failed)  # (..., K)
    return best, failed


@dataclass(frozen=True)
class BestOfK:
    """The expected best result after ``k = 1..N`` random trials of a grid.

    Attributes:
        budgets: ``1..N``.
        expected: the expected best value given that one of the ``k`` trials finished
            (NaN where none of any seed's configs finished).
        all_failed: the probability that every one of the ``k`` trials diverged.
        low, high: bootstrap percentile band of ``expected`` (NaN without a bootstrap).
    """

    budgets: tuple[int, ...]
    expected: tuple[float, ...]
    all_failed: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


def _as_grid(values: object) -> Array:
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim == 1:
        grid = grid[None, :]
    if grid.ndim != 2 or grid.shape[1] == 0 or grid.shape[0] == 0:
        raise ConfigError(
            f"values must be a non-empty (seeds, configs) table or one list of configs' "
            f"values; got shape {grid.shape}."
        )
    return grid


def best_of_k(values: object, *, goal: str = "min") -> BestOfK:
    """The unbiased expected best after ``k`` trials, ``k = 1..N`` (Tang et al. 2020).

    Args:
        values: final values of the grid's ``N`` configs, one list (one seed) or a
            ``(seeds, N)`` table; NaN or inf marks a run that diverged (a failed trial).
        goal: ``min`` when lower is better (a loss), ``max`` when higher is.

    Returns:
        A :class:`BestOfK` without bands (see :func:`bootstrap_best_of_k`).

    Examples:
        >>> best_of_k([3.0, 1.0, 2.0]).expected  # k=1: the mean; k=3: the best
        (2.0, 1.3333333333333333, 1.0)
    """
    _check_goal(goal)
    grid = _as_grid(values)
    best, failed = _curves(grid, goal)
    n = grid.shape[1]
    nan = (math.nan,) * n
    return BestOfK(tuple(range(1, n + 1)), tuple(best.tolist()), tuple(failed.tolist()), nan, nan)


def bootstrap_best_of_k(
    values: object,
    *,
    goal: str = "min",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BestOfK:
    """:func:`best_of_k` with a bootstrap percentile band over the grid's configs.

    Each resample draws ``N`` configs with replacement (every seed's values of a config come
    along, so seeds stay paired) and recomputes the curve; ``low`` and ``high`` are the
    ``(1 ± confidence) / 2`` quantiles of those curves.

    Args:
        values: as :func:`best_of_k`.
        goal: ``min`` or ``max``.
        resamples: bootstrap resamples (1000: the percentiles move by about 0.01 in
            coverage from one seed to another).
        confidence: coverage of the band.
        seed: the resampling's random seed (the band is reproducible).

    Raises:
        ConfigError: for an unknown goal, ``resamples < 1`` or a confidence outside (0, 1).
    """
    _check_goal(goal)
    if resamples < 1:
        raise ConfigError(f"resamples = {resamples!r} must be at least 1, e.g. 1000.")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence = {confidence!r} must be between 0 and 1, e.g. 0.95.")
    grid = _as_grid(values)
    point = best_of_k(grid, goal=goal)
    n = grid.shape[1]
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))  # (B, N)
    drawn = grid[:, picks].transpose(1, 0, 2)  # (B, S, N)
    curves, _ = _curves(drawn, goal)  # (B, K)
    tail = (1.0 - confidence) / 2.0
    low, high = [], []
    for column in curves.T:  # a budget at which every trial of a resample failed has no value
        found = column[np.isfinite(column)]
        low.append(float(np.quantile(found, tail)) if found.size else math.nan)
        high.append(float(np.quantile(found, 1.0 - tail)) if found.size else math.nan)
    return BestOfK(point.budgets, point.expected, point.all_failed, tuple(low), tuple(high))


def paired_improvement(
    a: object,
    b: object,
    *,
    goal: str = "min",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The paired probability that ``a`` beats ``b``, over seeds, with a bootstrap interval.

    ``P(a better than b) = mean over seeds of [a_s better than b_s] + 0.5 [a_s = b_s]`` (the
    paired form of the probability of improvement of Agarwal et al. 2021,
    https://arxiv.org/abs/2108.13264). A run that diverged (NaN or inf) loses to one that
    finished; two that diverged tie.

    Args:
        a, b: one value per seed, the same seeds in the same order.
        goal: ``min`` or ``max``.
        resamples, confidence, seed: the bootstrap over seeds.

    Returns:
        ``(probability, low, high)``; NaN for no seeds.

    Examples:
        >>> paired_improvement([1.0, 2.0, 3.0], [2.0, 2.0, 1.0], resamples=10)[0]
        0.5
    """
    _check_goal(goal)
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise ConfigError(
            f"paired values need one value per seed on both sides; got shapes {first.shape} "
            f"and {second.shape}."
        )
    if first.size == 0:
        return (math.nan, math.nan, math.nan)
    sign = 1.0 if goal == "min" else -1.0
    worst = np.inf
    left = np.where(np.isfinite(first), sign * first, worst)
    right = np.where(np.isfinite(second), sign * second, worst)
    score = (left < right).astype(np.float64) + 0.5 * (left == right)  # (S,)
    picks = np.random.default_rng(seed).integers(0, score.size, size=(resamples, score.size))
    means = score[picks].mean(axis=1)  # (B,)
    tail = (1.0 - confidence) / 2.0
    return (
        float(score.mean()),
        float(np.quantile(means, tail)),
        float(np.quantile(means, 1.0 - tail)),
    )
