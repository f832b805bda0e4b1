"""A map's cells checked once per axis value equal the cells checked one by one: the same
settings (values, types, key order), the same decay rates, and the same errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from optiscope import sensitivity_map
from optiscope.api import _map_cells
from optiscope.engine import resolve_optimizer
from optiscope.errors import ConfigError
from optiscope.grammar import Axis
from optiscope.optim import OptimizerInfo

LRS = (1e-3, 0.01, 0.1, 0.3)


def _both(
    optimizer: str, x: Axis, y: Axis, weight_decay: float = 0.0, decay: str = "decoupled"
) -> tuple[Any, Any]:
    """``grid_cells`` and the cell-by-cell path (what every map did before), each as its
    result or the ConfigError text it raised."""
    resolved = resolve_optimizer(optimizer)

    def outcome(build: Any) -> Any:
        try:
            cells, rates = build(resolved, x, y, weight_decay, decay)
        except ConfigError as err:
            return str(err)
        return [list(cell.items()) for cell in cells], rates  # key order too

    return outcome(_map_cells.grid_cells), outcome(_map_cells._each_cell)


def _types(cells: Sequence[list[tuple[str, Any]]]) -> list[list[type]]:
    return [[type(value) for _, value in cell] for cell in cells]


@pytest.mark.parametrize(
    ("optimizer", "x", "y", "weight_decay"),
    [
        ("momentum", Axis("lr", LRS), Axis("beta", (0.0, 0.5, 0.9)), 0.0),
        ("momentum", Axis("lr", LRS), Axis("weight_decay", (0.0, 0.01, 0.1)), 0.0),
        ("momentum", Axis("weight_decay", (0.0, 0.1)), Axis("beta", (0.5, 0.9)), 0.05),
        ("adam lr=0.1", Axis("beta1", (0.0, 0.5, 0.9)), Axis("lr", LRS), 0.0),
        ("adam betas=0.8,0.95", Axis("lr", LRS), Axis("beta2", (0.9, 0.99)), 0.0),
        ("adamw", Axis("lr", LRS), Axis("weight_decay", (0.0, 0.01)), 0.0),
        ("rmsprop momentum=0.5", Axis("alpha", (0.5, 0.99)), Axis("eps", (1e-8, 1e-6)), 0.0),
        ("adagrad", Axis("lr", LRS), Axis("lr_decay", (0, 0.1)), 0.0),  # an int value
        # checked cell by cell: both axes set betas; SGD's checks across hyperparameters
        ("adam", Axis("beta1", (0.0, 0.9)), Axis("beta2", (0.9, 0.999)), 0.0),
        ("sgd momentum=0.9", Axis("lr", LRS), Axis("dampening", (0.0, 0.5)), 0.0),
    ],
)
def test_the_same_cells_and_rates(optimizer: str, x: Axis, y: Axis, weight_decay: float) -> None:
    fast, each = _both(optimizer, x, y, weight_decay)
    assert not isinstance(each, str), each  # valid maps
    assert fast == each
    assert _types(fast[0]) == _types(each[0])  # 0.0 stays a float, as torch's would
    assert len(fast[0]) == len(x.values) * len(y.values)


@pytest.mark.parametrize(
    ("optimizer", "x", "y", "weight_decay", "match"),
    [
        ("momentum", Axis("lr", (-1.0, 0.1)), Axis("beta", (0.5, 1.0, 1.5)), 0.0, "in 3 of 6"),
        ("adam", Axis("beta1", (0.5, 1.0)), Axis("lr", (0.1, 0.0)), 0.0, "`beta1` = 1.0"),
        ("adam", Axis("beta1", (0.5, 1.0)), Axis("beta2", (0.9, 2.0)), 0.0, "`beta2` = 2.0"),
        ("momentum", Axis("lr", (-1.0, 0.1)), Axis("weight_decay", (-2.0, -1.0)), 0.0, "-2.0"),
        ("momentum", Axis("weight_decay", (-1.0, 0.0)), Axis("beta", (0.5,)), 0.0, "-1.0"),
        ("momentum", Axis("lr", (0.1,)), Axis("beta", (0.5,)), math.inf, "inf"),
        (
            "sgd nesterov=true momentum=0.5",
            Axis("lr", LRS),
            Axis("momentum", (0.0, 0.9)),
            0.0,
            "nesterov",
        ),
    ],
)
def test_the_same_errors(optimizer: str, x: Axis, y: Axis, weight_decay: float, match: str) -> None:
    """Bad values on one axis, on both, in the map's own decay (checked first, as before)."""
    fast, each = _both(optimizer, x, y, weight_decay)
    assert isinstance(each, str) and match in each
    assert fast == each


def test_a_64_by_64_map_checks_128_settings_not_4096(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[int] = []
    original = OptimizerInfo.problems_of_each

    def spy(self: OptimizerInfo, configs: Sequence[Any]) -> list[list[str]]:
        checked.append(len(configs))
        return original(self, configs)

    monkeypatch.setattr(OptimizerInfo, "problems_of_each", spy)
    grid = {"lr": np.geomspace(1e-3, 0.3, 64), "beta": np.linspace(0, 0.99, 64)}
    result = sensitivity_map("rosenbrock a=1 b=2", "momentum", grid, steps=2)
    assert checked == [1, 128]  # the optimizer's own settings, then 64 + 64 axis values
    assert result.shape == (64, 64)
