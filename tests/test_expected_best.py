"""The expected-best-of-k estimator against brute force, and its bootstrap against known laws."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from optiscope.errors import ConfigError
from optiscope.plotting._expected_best import best_of_k, bootstrap_best_of_k, paired_improvement


def _brute_force(table: list[list[float]], goal: str) -> tuple[list[float], list[float]]:
    """Enumerate every k-subset of configs for every seed: the definition, not the formula.

    Returns the expected best given that one trial finished, and P(all k failed), averaged
    over seeds as the docstring defines them (a random seed per tuning run).
    """
    n = len(table[0])
    best, failed = [], []
    for k in range(1, n + 1):
        total, successes, count = 0.0, 0, 0
        for row in table:
            for subset in itertools.combinations(row, k):
                count += 1
                finished = [v for v in subset if math.isfinite(v)]
                if finished:
                    successes += 1
                    total += min(finished) if goal == "min" else max(finished)
        best.append(total / successes if successes else math.nan)
        failed.append(1 - successes / count)
    return best, failed


@pytest.mark.parametrize("goal", ["min", "max"])
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_estimator_equals_the_mean_over_all_subsets(goal: str, n: int) -> None:
    rng = np.random.default_rng(n)
    table = rng.normal(size=(3, n)).tolist()
    if n >= 5:  # ties and failures: a repeated value and diverged runs
        table[0][1] = table[0][0]
        table[1][2] = math.inf
        table[2][0] = math.nan
        table[2][3] = math.nan
    found = best_of_k(table, goal=goal)
    best, failed = _brute_force(table, goal)
    assert found.budgets == tuple(range(1, n + 1))
    np.testing.assert_allclose(found.expected, best, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(found.all_failed, failed, rtol=1e-12, atol=1e-15)


def test_hand_computed_small_case() -> None:
    # Values 1, 2, 3 (a loss): a random pair misses 1 one time in three, so E[best of 2] is
    # (1 + 1 + 2) / 3; the best of all three is 1.
    assert best_of_k([3.0, 1.0, 2.0]).expected == pytest.approx((2.0, 4 / 3, 1.0))
    assert best_of_k([3.0, 1.0, 2.0], goal="max").expected == pytest.approx((2.0, 8 / 3, 3.0))


def test_every_failure_has_no_best_and_probability_one() -> None:
    found = best_of_k([[math.nan, math.inf]])
    assert all(math.isnan(v) for v in found.expected)
    assert found.all_failed == (1.0, 1.0)


def test_unbiased_against_a_known_distribution() -> None:
    # For k draws from U(0, 1), E[max] = k / (k + 1). The mean of the estimator over many grids
    # of 10 must match it (within 4 standard errors), which the with-replacement estimator of
    # Dodge et al. 2019 does not at k = 10 (biased low by about 0.05: that is why Tang et al.
    # replaced it).
    rng = np.random.default_rng(0)
    grids = rng.uniform(size=(4000, 10))
    estimates = np.array([best_of_k(g, goal="max").expected for g in grids])  # (R, K)
    mean, error = estimates.mean(axis=0), estimates.std(axis=0) / math.sqrt(len(grids))
    truth = np.arange(1, 11) / np.arange(2, 12)
    assert np.all(np.abs(mean - truth) < 4 * error + 1e-12)
    ranked = np.sort(grids, axis=1)
    cdf = np.arange(1, 11) / 10
    with_replacement = (ranked * (cdf**10 - (cdf - 0.1) ** 10)).sum(axis=1)
    assert truth[-1] - with_replacement.mean() > 0.03


def test_bootstrap_band_at_budget_one_is_the_interval_of_a_mean() -> None:
    # At k = 1 the estimator is the mean of the grid; its bootstrap band for N normal values
    # approaches mean ± 1.96 sigma / sqrt(N).
    rng = np.random.default_rng(1)
    values = rng.normal(loc=5.0, scale=2.0, size=200)
    found = bootstrap_best_of_k(values, resamples=4000, seed=3)
    half = 1.959964 * values.std(ddof=1) / math.sqrt(values.size)
    assert found.expected[0] == pytest.approx(values.mean())
    assert found.low[0] == pytest.approx(values.mean() - half, abs=0.12 * half)
    assert found.high[0] == pytest.approx(values.mean() + half, abs=0.12 * half)


def test_bootstrap_band_covers_the_truth_about_as_often_as_it_claims() -> None:
    # Uniform(0, 1) grids of 30 configs, k = 3: E[max] = 3/4. Percentile bands of a smooth
    # statistic cover close to their nominal 90% (here checked within 0.78-0.98 over 200 grids:
    # a binomial 95% range around 0.9 is about 0.86-0.94, widened for the percentile method's
    # own small-sample error).
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(200):
        band = bootstrap_best_of_k(
            rng.uniform(size=30), goal="max", resamples=400, confidence=0.9, seed=trial
        )
        covered += band.low[2] <= 0.75 <= band.high[2]
    assert 0.78 <= covered / 200 <= 0.98


def test_bootstrap_is_reproducible_and_keeps_seed_pairs() -> None:
    table = np.random.default_rng(4).normal(size=(3, 6))
    first = bootstrap_best_of_k(table, resamples=50, seed=7)
    assert first == bootstrap_best_of_k(table, resamples=50, seed=7)
    assert all(lo <= hi for lo, hi in zip(first.low, first.high, strict=True))
    # The band of the best of the whole grid: every resample's best is some config's mean over
    # seeds' best, never below the grid's own best.
    assert first.low[-1] >= first.expected[-1] - 1e-12


def test_paired_improvement_counts_wins_ties_and_failures() -> None:
    assert paired_improvement([1, 2, 3], [2, 2, 1], resamples=10)[0] == 0.5
    assert paired_improvement([1, math.nan], [2, 1], resamples=10)[0] == 0.5
    assert paired_improvement([math.nan], [math.inf], resamples=10)[0] == 0.5
    assert paired_improvement([3, 3], [1, 2], goal="max", resamples=10)[0] == 1.0
    p, low, high = paired_improvement([1, 1, 1, 5], [2, 2, 2, 2], resamples=2000)
    assert p == 0.75 and low <= p <= high and low >= 0.0 and high <= 1.0


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="goal"):
        best_of_k([1.0], goal="best")
    with pytest.raises(ConfigError, match="resamples"):
        bootstrap_best_of_k([1.0], resamples=0)
    with pytest.raises(ConfigError, match="shape"):
        best_of_k([])
    with pytest.raises(ConfigError, match="paired"):
        paired_improvement([1.0], [1.0, 2.0])
