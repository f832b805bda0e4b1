"""Seed bands as data (no matplotlib needed) and the statistics behind them."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from curve_records import epoch_curve
from optiscope.errors import ConfigError
from optiscope.plotting import (
    build_bands,
    interval,
    paired_differences,
    render_band_panels,
    render_bands,
    t_quantile,
)
from optiscope.plotting._stats import t_cdf
from optiscope.records import RunConfig, RunRecord


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def _t_cdf_by_integration(t: float, df: float, steps: int = 20_000) -> float:
    """0.5 + the integral of the density from 0 to t (Simpson's rule): an independent check."""
    h = t / steps
    total = _t_pdf(0, df) + _t_pdf(t, df)
    total += sum((4 if i % 2 else 2) * _t_pdf(i * h, df) for i in range(1, steps))
    return 0.5 + total * h / 3


@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_matches_closed_forms(p: float) -> None:
    # df = 1 is the Cauchy distribution; df = 2 has the quantile (2p - 1) / sqrt(2 p (1 - p)).
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)
    assert t_quantile(1 - p, 3) == pytest.approx(-t_quantile(p, 3))


@pytest.mark.parametrize("df", [3, 4, 9, 29])
def test_t_quantile_inverts_the_integrated_density(df: int) -> None:
    q = t_quantile(0.975, df)
    assert _t_cdf_by_integration(q, df) == pytest.approx(0.975, abs=1e-9)
    assert t_cdf(q, df) == pytest.approx(0.975, abs=1e-12)


def test_t_quantile_approaches_the_normal_quantile() -> None:
    normal = statistics.NormalDist().inv_cdf(0.975)
    assert t_quantile(0.975, 100_000) == pytest.approx(normal, rel=1e-4)


def test_interval_std_and_ci() -> None:
    values = [1.0, 2.0, 4.0, 7.0]
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    std = interval(values)
    assert (std.n, std.mean, std.std) == (4, pytest.approx(mean), pytest.approx(sd))
    assert (std.low, std.high) == (pytest.approx(mean - sd), pytest.approx(mean + sd))
    ci = interval(values, band="ci", confidence=0.9)
    half = t_quantile(0.95, 3) * sd / 2
    assert (ci.low, ci.high) == (pytest.approx(mean - half), pytest.approx(mean + half))
    one = interval([3.0])
    assert (one.low, one.mean, one.high) == (3.0, 3.0, 3.0) and math.isnan(one.std)
    with pytest.raises(ConfigError, match="band = 'iqr' is unknown"):
        interval(values, band="iqr")
    with pytest.raises(ConfigError, match="confidence = 95"):
        interval(values, confidence=95)


def _record(losses: list[float], status: str = "done", seed: int = 0) -> RunRecord:
    curve = epoch_curve(
        losses, samples_per_epoch=160, seconds_per_epoch=0.1, start_seconds=0.01 * seed
    )
    return RunRecord(RunConfig(seed=seed), curve, status=status)  # type: ignore[arg-type]


SEEDS = {
    "a": [[3.0, 2.0, 1.0], [4.0, 2.5, 1.5], [5.0, 3.0, 1.1]],
    "b": [[3.0, 2.8, 2.6], [3.2, 2.9, math.inf], [2.9, 2.7, 2.4]],
}


def _groups() -> list[tuple[str, list[tuple[int, RunRecord]]]]:
    groups = []
    for label, runs in SEEDS.items():
        seeds = []
        for seed, losses in enumerate(runs):
            status = "done" if all(math.isfinite(v) for v in losses) else "diverged"
            seeds.append((seed, _record(losses, status, seed)))
        groups.append((label, seeds))
    return groups


def test_bands_are_the_statistics_of_the_finite_seeds_per_epoch() -> None:
    data = build_bands(_groups(), band="ci", confidence=0.95)
    a, b = data.lines
    for line, runs in ((a, SEEDS["a"]), (b, SEEDS["b"])):
        for epoch in range(3):
            values = [r[epoch] for r in runs if math.isfinite(r[epoch])]
            expected = interval(values, band="ci")
            assert line.mean[epoch] == pytest.approx(expected.mean)
            assert (line.low[epoch], line.high[epoch]) == (
                pytest.approx(expected.low),
                pytest.approx(expected.high),
            )
            assert line.count[epoch] == len(values)
    assert (b.diverged, b.seeds) == (1, 3)
    assert b.legend == "b (1 of 3 seeds diverged)"
    assert b.seed_lines[1].diverged_x == 3.0 and b.seed_lines[1].y == (3.2, 2.9)
    assert data.band_label == "mean and 95% interval over 3 seeds"


def test_the_seconds_axis_uses_each_epochs_mean_time() -> None:
    data = build_bands(_groups(), x="seconds")
    assert data.lines[0].x == pytest.approx((0.11, 0.21, 0.31))
    assert data.x_label == "Training time (s)"


def test_y_limits_stay_above_zero_and_let_an_exploding_mean_leave() -> None:
    groups = _groups()
    wide = [(s, _record([1.0, 0.1, 0.05], seed=s)) for s in range(2)]
    wide.append((2, _record([9.0, 0.2, 0.05], seed=2)))
    exploding = [(s, _record([1.0, 40.0 + s, 90.0], seed=s)) for s in range(3)]
    data = build_bands([*groups, ("wide", wide), ("up", exploding)])
    assert data.y_limits is not None
    assert data.y_limits[0] >= -0.04 * data.y_limits[1]  # only padding below zero
    assert data.lines[3].off_scale_x == 2.0
    assert data.lines[3].legend == "up (leaves the plot)"


def test_paired_differences_by_seed() -> None:
    finals = {"base": {0: 1.0, 1: 2.0, 2: 3.0}, "x": {0: 0.5, 1: 1.9, 2: 2.0, 3: 9.0}}
    base, x = paired_differences(finals, "base", confidence=0.9)
    diffs = [-0.5, -0.1, -1.0]  # seed 3 has no partner
    expected = interval(diffs, band="ci", confidence=0.9)
    assert (x.n, x.mean) == (3, pytest.approx(statistics.fmean(diffs)))
    assert (x.low, x.high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    assert (base.mean, base.low, base.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="baseline 'c' is not a config"):
        paired_differences(finals, "c")


def test_bands_as_json_have_no_nan() -> None:
    groups = [*_groups(), ("one", [(0, _record([2.0, 1.0]))])]
    payload = build_bands(groups, show_seeds=True).to_dict()
    json.dumps(payload, allow_nan=False)  # the web page's payload: JSON has no NaN
    assert payload["lines"][2]["low"] == [2.0, 1.0]  # one seed: no spread known
    assert payload["lines"][1]["seed_lines"][1]["status"] == "diverged"


def test_renderers_draw_every_band() -> None:
    data = build_bands(_groups(), show_seeds=True)
    fig = render_bands(data)
    (ax,) = fig.axes
    assert len(ax.collections) >= 2  # one shaded band per config
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "a",
        "b (1 of 3 seeds diverged)",
    ]
    panels = render_band_panels([data, build_bands(_groups()[:1], title="only a")], title="t")
    visible = [a for a in panels.axes if a.get_visible()]
    assert len(visible) == 2 and visible[0].get_ylim() == visible[1].get_ylim()
