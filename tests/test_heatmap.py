"""Sensitivity maps: one batched computation whose every cell equals that cell's own race."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from optiscope import race, sensitivity_map
from optiscope.engine import resolve_optimizer, run_grid
from optiscope.errors import ConfigError
from optiscope.landscapes import Landscape, get_landscape

STEPS = 120
TOL = 0.05


def _check_against_races(
    fn: str, optimizer: str, grid: dict[str, list[float]], **options: Any
) -> None:
    """Every cell against ``race`` with the same settings: final position, value, divergence
    step and the step it first came within the tolerance."""
    result = sensitivity_map(fn, optimizer, grid, steps=STEPS, tol=TOL, **options)
    (x_name, xs), (y_name, ys) = grid.items()
    frame = result.frame
    assert len(frame) == len(xs) * len(ys)
    for cell in frame.to_dict(orient="records"):
        fixed = " ".join(p for p in optimizer.split() if p.split("=")[0] not in grid)
        spec = f"{fixed} {x_name}={cell[x_name]!r} {y_name}={cell[y_name]!r}"
        alone = race(fn, [spec], steps=STEPS, tol=TOL, **options)
        path, summary = alone.trajectories[0], alone.summary().iloc[0]
        assert cell["status"] == path.status
        if path.status == "diverged":
            assert cell["diverged_step"] == path.diverged_step
            assert math.isnan(cell["final_x"])
        else:
            # bit for bit: float32 positions, widened exactly to float64 in both
            assert (cell["final_x"], cell["final_y"]) == (path.x[-1], path.y[-1])
            assert cell["final_value"] == path.value[-1]
        reached, expected = cell["reached_step"], summary["steps_to_tol"]
        assert (pd.isna(reached) and pd.isna(expected)) or reached == expected


@pytest.mark.parametrize(
    ("fn", "optimizer", "grid"),
    [
        ("rosenbrock a=1 b=2", "momentum", {"lr": [0.003, 0.03, 0.4], "beta": [0.0, 0.5, 0.95]}),
        (
            "rastrigin",
            "sgd lr=0.002 dampening=0.1",
            {"lr": [0.001, 0.01, 0.1], "momentum": [0.0, 0.8]},
        ),
        (
            "himmelblau",
            "sgd momentum=0.9 nesterov=true",
            {"lr": [0.001, 0.01], "weight_decay": [0.0, 0.3]},
        ),
        ("rosenbrock a=1 b=2", "adam", {"lr": [0.01, 0.3], "beta1": [0.0, 0.9]}),
        ("beale", "adamw eps=1e-6", {"lr": [0.01, 0.1], "weight_decay": [0.0, 0.1]}),
        ("himmelblau", "rmsprop", {"lr": [0.001, 0.01, 0.1], "alpha": [0.5, 0.9, 0.99]}),
        (
            "rosenbrock a=1 b=2",
            "rmsprop centered=true",
            {"lr": [0.003, 0.03], "momentum": [0, 0.9]},
        ),
        ("booth", "rmsprop momentum=0.5", {"lr": [0.01, 0.1], "weight_decay": [0.0, 0.2]}),
        ("himmelblau", "adagrad", {"lr": [0.01, 0.1, 1.0], "lr_decay": [0.0, 0.01, 0.5]}),
        (
            "rastrigin",
            "adagrad lr_decay=0.001",
            {"initial_accumulator_value": [0.0, 0.1], "weight_decay": [0.0, 0.1]},
        ),
    ],
)
def test_each_cell_equals_the_same_run_done_alone(
    fn: str, optimizer: str, grid: dict[str, list[float]]
) -> None:
    _check_against_races(fn, optimizer, grid)


@pytest.mark.parametrize("decay", ["decoupled", "l2"])
def test_extra_weight_decay_per_cell_equals_races_with_that_decay(decay: str) -> None:
    grid = {"lr": [0.01, 0.05], "weight_decay": [0.0, 0.2]}  # momentum has no weight_decay
    result = sensitivity_map("saddle", "momentum beta=0.9", grid, steps=STEPS, decay=decay)
    for row in result.frame.itertuples(index=False):
        alone = race(
            "saddle",
            [f"momentum lr={row.lr!r} beta=0.9"],
            steps=STEPS,
            weight_decay=row.weight_decay,
            decay=decay,
        )
        assert (row.final_x, row.final_y) == (
            alone.trajectories[0].x[-1],
            alone.trajectories[0].y[-1],
        )


def test_a_step_function_fills_a_map_and_equals_its_races() -> None:
    """Plain gradient descent as a step function: lr as a (C, 1) float32 column rounds like the
    Python float torch casts to float32, so each cell equals its race bit for bit."""

    def descent(
        position: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], lr: Any = 0.01
    ) -> torch.Tensor:
        return position - lr * grad

    grid = {"lr": [0.01, 0.05, 0.2], "weight_decay": [0.0, 0.1]}  # decay: the extra kind
    result = sensitivity_map("booth", descent, grid, steps=STEPS, decay="l2")
    for row in result.frame.itertuples(index=False):
        alone = race(
            "booth",
            [(descent, {"lr": row.lr})],
            steps=STEPS,
            weight_decay=row.weight_decay,
            decay="l2",
        )
        path = alone.trajectories[0]
        assert row.status == path.status
        if path.status == "done":
            assert (row.final_x, row.final_y) == (path.x[-1], path.y[-1])


def test_arithmetic_on_step_function_hyperparameters_rounds_in_float32() -> None:
    """``1 - beta`` on a float32 column is not ``float32(1 - beta)``: close, not bit-exact
    (STEP_FUNCTION_HELP says so; registered optimizers are exact)."""

    def heavy_ball(
        position: torch.Tensor,
        grad: torch.Tensor,
        state: dict[str, Any],
        lr: Any = 0.01,
        beta: Any = 0.9,
    ) -> torch.Tensor:
        v = state.setdefault("v", torch.zeros_like(position))
        v.mul_(beta).add_(grad * (1 - beta))
        return position - lr * v

    grid = {"lr": [0.01, 0.05], "beta": [0.5, 0.9]}
    result = sensitivity_map("booth", heavy_ball, grid, steps=STEPS)
    for row in result.frame.itertuples(index=False):
        alone = race("booth", [(heavy_ball, {"lr": row.lr, "beta": row.beta})], steps=STEPS)
        path = alone.trajectories[0]
        assert math.isclose(row.final_x, path.x[-1], rel_tol=1e-5, abs_tol=1e-6)
        assert math.isclose(row.final_y, path.y[-1], rel_tol=1e-5, abs_tol=1e-6)


def test_all_cells_run_as_one_batched_computation() -> None:
    """The function is evaluated once per step for the whole grid, not once per cell."""
    base = get_landscape("rosenbrock", b=2)
    calls: list[tuple[int, ...]] = []

    def counted(x: Any, y: Any) -> Any:
        calls.append(tuple(x.shape))
        return base(x, y)

    f: Landscape = dataclasses.replace(base, function=counted)
    result = sensitivity_map(
        f, "momentum", {"lr": np.geomspace(1e-3, 0.1, 16), "beta": np.linspace(0, 0.9, 8)}, steps=25
    )
    assert calls[0] == ()  # the start's value, checked once before anything runs
    assert calls[1:] == [(128,)] * 26  # 25 steps plus the final value, each over all 128 cells
    assert result.shape == (8, 16)


def test_rows_follow_the_second_axis_and_columns_the_first() -> None:
    result = sensitivity_map(
        "booth", "sgd", {"lr": [0.001, 0.01, 0.05], "momentum": [0.0, 0.9]}, steps=30
    )
    frame = result.frame
    assert result.shape == (2, 3)
    assert frame["lr"].tolist() == [0.001, 0.01, 0.05] * 2
    assert frame["momentum"].tolist() == [0.0] * 3 + [0.9] * 3
    np.testing.assert_array_equal(result.final_distance.ravel(), frame["final_distance"])
    figure = result.plot()
    assert [ax.get_xlabel() for ax in figure.axes[:2]] == ["lr", "lr"]


def test_diverged_cells_are_marked_not_dropped() -> None:
    result = sensitivity_map(
        "rosenbrock", "sgd", {"lr": [1e-4, 0.01], "momentum": [0.0, 0.9]}, steps=100
    )
    assert result.diverged[:, 1].all() and not result.diverged[:, 0].any()
    assert np.isnan(result.final_distance[:, 1]).all()
    steps_panel = result.plot().axes[1]
    overlay = steps_panel.collections[-1].get_array()  # the red layer over the diverged cells
    assert np.array_equal(~np.ma.getmaskarray(overlay), result.diverged)
    assert "diverged" in [t.get_text() for t in steps_panel.get_legend().get_texts()]


@pytest.mark.parametrize(
    ("optimizer", "grid", "match"),
    [
        (
            "asgd",
            {"lr": [0.1], "lambd": [0.0001]},
            "ASGD cannot run a sensitivity map .*; use one of adamw, adam, sgd, rmsprop, adagrad, "
            "nadam, radam, adamax, momentum, or a step function",
        ),
        ("momentum", {"lr": [0.1]}, "exactly two hyperparameters"),
        ("momentum", {"lr": [0.1], "gamma": [1.0]}, "no hyperparameter 'gamma'; a map can vary"),
        (
            "momentum",
            {"lr": [0.1, -1.0], "beta": [0.5, 0.9]},
            "`lr` = -1.0 is outside \\(0, inf\\); Momentum needs 0 < lr \\(in 2 of 4 cells",
        ),
        ("momentum", {"lr": [], "beta": [0.5]}, "non-empty list"),
        ("momentum", {"lr": [0.1, math.nan], "beta": [0.5]}, "finite number"),
        ("momentum", {"lr": [0.01, 0.01], "beta": [0.5]}, r"grid\['lr'\] repeats 0.01"),
    ],
)
def test_bad_maps_are_config_errors(optimizer: str, grid: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        sensitivity_map("booth", optimizer, grid, steps=5)


def test_a_map_refuses_its_decay_on_top_of_the_optimizers_own() -> None:
    grid = {"lr": [0.01, 0.1], "beta1": [0.5, 0.9]}
    with pytest.raises(ConfigError, match=r"weight_decay = 0\.01 and the map adds"):
        sensitivity_map("booth", "adamw", grid, steps=5, weight_decay=0.1)
    alone = sensitivity_map("booth", "adamw weight_decay=0", grid, steps=5, weight_decay=0.1)
    assert alone.weight_decay == 0.1


def test_recorded_grid_paths_equal_races_including_divergence() -> None:
    optimizer = resolve_optimizer("sgd momentum=0.5")
    lrs = [1e-4, 1e-3, 0.01]  # 0.01 diverges on the canonical function
    cells = [{**optimizer.hparam_dict, "lr": lr} for lr in lrs]
    f = get_landscape("rosenbrock")
    grid = run_grid(f, optimizer, cells, steps=80, record=True)
    for index, lr in enumerate(lrs):
        alone = race(f, [f"sgd momentum=0.5 lr={lr!r}"], steps=80).trajectories[0]
        assert grid.trajectory(index, alone.label) == alone
    assert grid.trajectory(2, "x").status == "diverged"


def test_unsorted_axes_are_sorted_and_every_cell_keeps_its_own_run() -> None:
    grid = {"lr": [0.1, 0.001, 0.01], "beta": [0.9, 0.0]}
    result = sensitivity_map("booth", "momentum", grid, steps=STEPS)
    assert result.x_values == [0.001, 0.01, 0.1] and result.y_values == [0.0, 0.9]
    assert result.frame["lr"].tolist() == [0.001, 0.01, 0.1] * 2
    _check_against_races("booth", "momentum", grid)


def test_a_map_over_the_cell_limit_fails_before_anything_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from optiscope.api import _sensitivity

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a cell was built")

    monkeypatch.setattr(_sensitivity, "grid_cells", refuse)
    side = math.isqrt(_sensitivity.MAX_CELLS) + 1
    grid = {"lr": np.geomspace(1e-3, 1, side), "beta": np.linspace(0, 0.9, side)}
    with pytest.raises(ConfigError, match=f"a map runs at most {_sensitivity.MAX_CELLS:,}"):
        sensitivity_map("booth", "momentum", grid)
    # exactly at the limit it is accepted (and reaches the cells)
    grid = {"lr": np.geomspace(1e-3, 1, side - 1), "beta": np.linspace(0, 0.9, side - 1)}
    with pytest.raises(AssertionError, match="a cell was built"):
        sensitivity_map("booth", "momentum", grid)


def test_heatmap_title_shows_the_fixed_beta2_not_the_swept_betas() -> None:
    grid = {"lr": [0.01, 0.1], "beta1": [0.5, 0.9]}
    result = sensitivity_map("booth", "adam betas=0.8,0.95 eps=1e-6", grid, steps=5)
    figure = result.plot()
    title = figure._suptitle.get_text() if figure._suptitle is not None else ""
    settings = title[title.index("(", title.index("steps")) :]
    assert "beta2=0.95" in settings and "eps=1e-06" in settings
    assert "betas" not in settings and "beta1" not in settings and "lr=" not in settings


def test_a_plain_list_axis_is_log_when_positive_over_two_decades_and_an_axis_says_it_itself() -> (
    None
):
    from optiscope.api._sensitivity import LOG_AXIS_SPAN
    from optiscope.grammar import Axis

    wide = [1e-3, 1e-3 * LOG_AXIS_SPAN]
    grid = {"lr": wide, "beta": [0.0, 0.5]}
    assert (sensitivity_map("booth", "momentum", grid, steps=2).x_log) is True
    grid = {"lr": [wide[0], wide[1] * 0.99], "beta": [0.0, 0.5]}
    assert (sensitivity_map("booth", "momentum", grid, steps=2).x_log) is False
    axes = (Axis("lr", (0.01, 0.02), log=True), Axis("beta", (0.0, 0.5)))
    result = sensitivity_map("booth", "momentum", axes, steps=2)
    assert (result.x_log, result.y_log) == (True, False)
    with pytest.raises(ConfigError, match=r"grid\['beta'\] is a log axis but holds 0"):
        sensitivity_map("booth", "momentum", (axes[0], Axis("beta", (0.0, 0.5), log=True)))
