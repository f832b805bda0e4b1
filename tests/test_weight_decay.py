"""Question 3: the weight-decay fixed point satisfies its equation, and runs settle there."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optiscope import race, weight_decay_bias
from optiscope.engine import decay_fixed_point, decay_fixed_points, resolve_optimizer
from optiscope.errors import ConfigError
from optiscope.landscapes import LANDSCAPES, Landscape, get_landscape
from optiscope.optim import get_optimizer
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


@pytest.mark.parametrize(
    ("optimizer", "gain"),
    [
        ("sgd lr=0.01 momentum=0.9", 10.0),  # buffer rests at g / (1 - mu)
        ("sgd lr=0.01 momentum=0.9 nesterov=true", 1 + 0.9 * 10.0),
        ("sgd lr=0.01 momentum=0.9 dampening=0.5", 0.5 / 0.1),
        ("sgd lr=0.05", 1.0),  # no buffer: dampening plays no part
    ],
)
def test_torch_sgd_momentum_with_decoupled_decay_settles_at_the_predicted_point(
    optimizer: str, gain: float
) -> None:
    """torch's momentum buffer rests at (1 - dampening) g / (1 - mu) while decoupled decay stays
    lr * wd * p, so the point solves grad f = -(wd / m) p: much closer than wd alone says."""
    rates = [0.03, 0.3]
    result = weight_decay_bias(
        EXERCISE, rates, optimizer=optimizer, decay="decoupled", steps=3000, dtype="float64"
    )
    assert result.rule == "gradient" and math.isclose(result.gain, gain, rel_tol=1e-12)
    frame = result.frame
    assert (frame["status"] == "done").all()
    assert (frame["final_to_fixed"] < 1e-6).all(), frame
    for rate, point in zip(rates, result.fixed_points, strict=True):
        alone = decay_fixed_point(EXERCISE, rate / gain)
        assert point.weight_decay == rate
        np.testing.assert_allclose((point.x, point.y), (alone.x, alone.y), rtol=1e-12)
        p = np.array([point.x, point.y])
        np.testing.assert_allclose(_gradient(EXERCISE, *p), -rate / gain * p, atol=1e-8)


def test_with_l2_decay_the_momentum_gain_does_not_matter() -> None:
    result = weight_decay_bias(
        EXERCISE, [0.03], optimizer="sgd lr=0.01 momentum=0.9", decay="l2", steps=3000
    )
    assert result.gain == 1.0
    assert result.fixed_points[0].x == decay_fixed_point(EXERCISE, 0.03).x


@pytest.mark.parametrize(
    "optimizer",
    ["rprop", "adagrad lr=0.1", "asgd lr=0.01", "rmsprop lr=0.01 centered=true", "lbfgs"],
)
def test_optimizers_the_rules_do_not_cover_are_refused_unless_a_rule_is_given(
    optimizer: str,
) -> None:
    decay = "l2" if optimizer == "lbfgs" else "decoupled"
    with pytest.raises(ConfigError, match=r"cannot predict where .* the rest-point rules cover"):
        weight_decay_bias(EXERCISE, [0.1], optimizer=optimizer, decay=decay, steps=5)
    given = weight_decay_bias(
        EXERCISE, [0.1], optimizer=optimizer, decay=decay, steps=5, rule="gradient"
    )
    assert given.rule == "gradient" and given.gain == 1.0


@pytest.mark.parametrize(("momentum", "gain"), [(0.0, 1.0), (0.5, 2.0)])
def test_registered_rmsprop_keeps_the_adaptive_rule_with_decoupled_decay(
    momentum: float, gain: float
) -> None:
    """RMSprop (registered now, so its rates run batched) rests where g / (|g| + eps) =
    -(wd / m) p, its momentum buffer giving m = 1 / (1 - momentum)."""
    optimizer = f"rmsprop lr=0.01 momentum={momentum}"
    result = weight_decay_bias(EXERCISE, [0.1], optimizer=optimizer, steps=5)
    assert result.rule == "adaptive" and math.isclose(result.gain, gain, rel_tol=1e-12)
    assert resolve_optimizer(optimizer).info is get_optimizer("rmsprop")  # the batched path


def test_a_step_function_needs_an_explicit_rule() -> None:
    def descent(position: torch.Tensor, grad: torch.Tensor, state: dict, lr: float = 0.05):  # type: ignore[type-arg]
        return position - lr * grad

    with pytest.raises(ConfigError, match="cannot predict"):
        weight_decay_bias(EXERCISE, [0.1], optimizer=descent, steps=5)
    result = weight_decay_bias(
        EXERCISE, [0.1], optimizer=descent, steps=3000, rule="gradient", dtype="float64"
    )
    assert result.frame["final_to_fixed"].iloc[0] < 1e-6


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
    cases = [
        ("momentum lr=0.01 beta=0.9", "decoupled"),
        ("adam lr=0.05", "l2"),
        ("rmsprop lr=0.01 momentum=0.5", "decoupled"),
        ("rmsprop lr=0.01 alpha=0.9", "l2"),
    ]
    for optimizer, decay in cases:
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
