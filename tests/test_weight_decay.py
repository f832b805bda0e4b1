"""Question 3: the weight-decay fixed point satisfies its equation, and runs settle there."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optiscope import race, weight_decay_bias
from optiscope.engine import decay_fixed_point, decay_fixed_points
from optiscope.errors import ConfigError
from optiscope.landscapes import LANDSCAPES, Landscape, get_landscape
from optiscope.plotting import build_decay

EXERCISE = get_landscape("rosenbrock", b=2)


def _gradient(f: Landscape, x: float, y: float) -> np.ndarray:
    """Central differences in float64: independent of the solver's autograd."""
    h = 1e-6
    return np.array([(f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)])


@pytest.mark.parametrize("wd", [0.001, 0.01, 0.1, 1.0, 5.0])
def test_gradient_rule_fixed_point_satisfies_grad_f_equals_minus_wd_p(wd: float) -> None:
    point = decay_fixed_point(EXERCISE, wd)
    p = np.array([point.x, point.y])
    np.testing.assert_allclose(_gradient(EXERCISE, *p), -wd * p, rtol=1e-6, atol=1e-8)
    assert point.stable and point.residual < 1e-9
    # and it is the minimum of the decayed objective f + wd/2 |p|^2 around it
    penalized = lambda x, y: EXERCISE(x, y) + wd / 2 * (x * x + y * y)  # noqa: E731
    for dx, dy in [(1e-3, 0), (0, 1e-3), (-1e-3, 1e-3), (1e-3, 1e-3)]:
        assert penalized(point.x + dx, point.y + dy) > penalized(point.x, point.y)


@pytest.mark.parametrize("wd", [0.01, 0.1, 0.5])
def test_adaptive_rule_fixed_point_satisfies_adamws_equation(wd: float) -> None:
    eps = 1e-8
    point = decay_fixed_point(EXERCISE, wd, rule="adaptive", eps=eps)
    p = torch.tensor([point.x, point.y], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(EXERCISE(p[0], p[1]), p)
    # AdamW at rest: g / (|g| + eps) = -wd p, coordinate by coordinate
    torch.testing.assert_close(g / (g.abs() + eps), -wd * p.detach(), rtol=1e-5, atol=1e-7)
    assert point.distance < 1e-6  # the bias is of the order of eps


def test_every_landscape_minimum_has_a_fixed_point_branch() -> None:
    for f in LANDSCAPES.values():
        for minimum in f.minima:
            point = decay_fixed_point(f, 0.05, near=minimum)
            assert point.minimum == minimum and point.stable
            p = np.array([point.x, point.y])
            np.testing.assert_allclose(_gradient(f, *p), -0.05 * p, atol=1e-6)


def test_no_decay_is_the_minimum_and_more_decay_moves_further() -> None:
    points = decay_fixed_points(EXERCISE, [0.3, 0.0, 0.01, 0.1])
    assert [p.weight_decay for p in points] == [0.3, 0.0, 0.01, 0.1]
    assert (points[1].x, points[1].y) == (1.0, 1.0)
    distances = [p.distance for p in sorted(points, key=lambda p: p.weight_decay)]
    assert distances == sorted(distances) and distances[0] == 0


@pytest.mark.parametrize(
    ("optimizer", "decay"),
    [
        ("momentum lr=0.01 beta=0.9", "decoupled"),
        ("momentum lr=0.01 beta=0.9", "l2"),
        ("adam lr=0.01", "l2"),
    ],
)
def test_runs_settle_at_the_predicted_point(optimizer: str, decay: str) -> None:
    result = weight_decay_bias(
        EXERCISE, [0.03, 0.3], optimizer=optimizer, decay=decay, steps=3000, dtype="float64"
    )
    assert result.rule == "gradient"
    frame = result.frame
    assert (frame["status"] == "done").all()
    assert (frame["final_to_fixed"] < 1e-3).all(), frame
    np.testing.assert_allclose(frame["final_distance"], frame["fixed_distance"], rtol=0.05)


def test_adamw_uses_the_adaptive_rule_and_stays_closer_than_momentum() -> None:
    adamw = weight_decay_bias(
        EXERCISE, [0.1], optimizer="adam lr=0.01", decay="decoupled", steps=4000
    )
    momentum = weight_decay_bias(EXERCISE, [0.1], steps=2000)
    assert adamw.rule == "adaptive" and momentum.rule == "gradient"
    assert adamw.frame["final_distance"].iloc[0] < momentum.frame["final_distance"].iloc[0]


def test_batched_paths_equal_the_races_with_each_rate() -> None:
    """All rates run as one batched computation; each path is its own race, bit for bit."""
    rates = [0.0, 0.05, 0.3]
    for optimizer, decay in [("momentum lr=0.01 beta=0.9", "decoupled"), ("adam lr=0.05", "l2")]:
        result = weight_decay_bias(EXERCISE, rates, optimizer=optimizer, decay=decay, steps=200)
        for rate, path in zip(rates, result.trajectories, strict=True):
            alone = race(EXERCISE, [optimizer], steps=200, weight_decay=rate, decay=decay)
            assert path == alone.trajectories[0]


def test_result_frame_figure_data_and_properties() -> None:
    result = weight_decay_bias("rosenbrock a=1 b=2", [0, 0.05], steps=500)
    assert set(result.points) == {0.0, 0.05} and result.distances[0.0] == 0
    frame = result.frame
    assert list(frame.columns[:6]) == [
        "weight_decay",
        "fixed_x",
        "fixed_y",
        "fixed_value",
        "fixed_distance",
        "stable",
    ]
    data = build_decay(
        result.trajectories,
        result.weight_decays,
        [(p.x, p.y) for p in result.fixed_points],
        result.landscape,
        minimum=result.minimum,
        curve=[(0.05, 0.1)],
    )
    measured = dict(data.measured)
    for row in frame.itertuples(index=False):
        assert math.isclose(measured[row.weight_decay], row.final_distance, rel_tol=1e-12)
    assert len(result.plot().axes) == 3
    assert weight_decay_bias(EXERCISE, 0.1, run=False).trajectories == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"wd": [0.1], "optimizer": "adamw lr=0.1"}, "has its own weight_decay = 0.01"),
        ({"wd": [-0.1]}, "wd = -0.1 must be a finite number >= 0"),
        ({"wd": []}, "wd is empty"),
        ({"wd": [3.0], "optimizer": "adam lr=0.01"}, "the branch ends near weight_decay = 1"),
        ({"wd": [0.1], "rule": "exact"}, "rule = 'exact' is unknown"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        weight_decay_bias(EXERCISE, steps=5, **kwargs)  # type: ignore[arg-type]
