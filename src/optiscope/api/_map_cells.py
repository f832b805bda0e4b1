"""A sensitivity map's cells: each one's settings from the two axes, checked before anything runs.

Cells are row-major: the y-axis outer, the x-axis inner. A 64 x 64 map has 4,096 cells but
only 64 + 64 axis values, and a value's checks do not depend on the other axis, so the values
are checked once per axis value, and each cell is assembled from its two checked halves (a
dict merge). Where that does not hold, every cell is checked on its own, as before: an
optimizer with checks across hyperparameters (SGD's ``nesterov`` needs ``momentum > 0``),
two axes that set the same setting (``beta1`` and ``beta2`` are both parts of ``betas``),
or any problem at all, so an error lists each problem with the cells that have it, from the
same code either way (measured: checking every cell was 14 ms of a 0.27 s 64 x 64 map).
"""

from __future__ import annotations

from typing import Any

from optiscope.engine import PathOptimizer, check_decay
from optiscope.errors import ConfigError
from optiscope.grammar import Axis
from optiscope.settings import BETA_PARTS

__all__ = ["check_names", "grid_cells"]

# How many different problems an error lists before it says "and N more".
_SHOWN_PROBLEMS = 4


def check_names(optimizer: PathOptimizer, names: tuple[str, str]) -> None:
    """The grid's names must be the optimizer's hyperparameters (or beta1/beta2/weight_decay)."""
    known = set(optimizer.hparam_dict) | {"weight_decay"}
    if "betas" in known:
        known |= {"beta1", "beta2"}
    unknown = [n for n in names if n not in known]
    if unknown:
        how = (
            "" if optimizer.info is not None else " (give it as a keyword argument with a default)"
        )
        raise ConfigError(
            f"{optimizer.title} has no hyperparameter {', '.join(map(repr, unknown))}{how}; a map "
            f"can vary: {', '.join(sorted(known))}. Nothing was run."
        )


def _cell_settings(
    optimizer: PathOptimizer, names: tuple[str, str], pair: tuple[float, float]
) -> tuple[dict[str, Any], float | None]:
    """One cell's hyperparameters, and its landscape-level decay rate if an axis sets it."""
    values: dict[str, Any] = dict(zip(names, pair, strict=True))
    base = optimizer.hparam_dict
    decay_rate = None
    if "weight_decay" in values and "weight_decay" not in base:
        decay_rate = values.pop("weight_decay")
    if {"beta1", "beta2"} & set(values) and "betas" in base:
        beta1, beta2 = base["betas"]
        betas = (values.pop("beta1", beta1), values.pop("beta2", beta2))
        values["betas"] = betas
    return {**base, **values}, decay_rate


def _target(optimizer: PathOptimizer, name: str) -> str:
    """The setting an axis sets: its hyperparameter, ``betas`` for a part of it, or the
    map's own decay (``""``) for ``weight_decay`` where the optimizer has none."""
    base = optimizer.hparam_dict
    if name == "weight_decay" and name not in base:
        return ""
    if name in BETA_PARTS and "betas" in base:
        return "betas"
    return name


def _axis_part(
    optimizer: PathOptimizer, name: str, value: float
) -> tuple[dict[str, Any], float | None]:
    """What one axis value changes: ``(hyperparameters it sets, decay rate it sets)``, the
    way :func:`_cell_settings` sets it (a beta part keeps the optimizer's other beta)."""
    target = _target(optimizer, name)
    if not target:
        return {}, value
    if target == "betas" and name != target:
        betas = list(optimizer.hparam_dict["betas"])
        betas[BETA_PARTS[name]] = value
        return {"betas": tuple(betas)}, None
    return {name: value}, None


def _validate_cells(optimizer: PathOptimizer, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every cell's settings checked (and completed) at once; one error lists the problems,
    each with how many cells have it."""
    info = optimizer.info
    if info is None:
        return cells
    checked: list[dict[str, Any]] = []
    problems: dict[str, list[int]] = {}
    for number, (cell, found) in enumerate(
        zip(cells, info.problems_of_each(cells), strict=True), start=1
    ):
        for problem in found:
            problems.setdefault(problem, []).append(number)
        if not found:
            checked.append(info.complete(cell))  # checked just above: complete, not recheck
    if problems:
        texts = [
            f"{text} (in {len(where)} of {len(cells)} cells, e.g. cell {where[0]})"
            for text, where in list(problems.items())[:_SHOWN_PROBLEMS]
        ]
        more = len(problems) - _SHOWN_PROBLEMS
        raise ConfigError(
            "; ".join(texts) + (f"; and {more} more" if more > 0 else "") + ". Nothing was run."
        )
    return checked


def _decay_optimizer(optimizer: PathOptimizer) -> PathOptimizer | None:
    """What :func:`check_decay` checks the decay against (a step function: nothing)."""
    return optimizer if optimizer.step_function is None else None


def _each_cell(
    optimizer: PathOptimizer, x_axis: Axis, y_axis: Axis, weight_decay: float, decay: str
) -> tuple[list[dict[str, Any]], list[float]]:
    """The cells built and checked one by one."""
    cells, rates = [], []
    for y in y_axis.values:
        for x in x_axis.values:
            settings, rate = _cell_settings(optimizer, (x_axis.name, y_axis.name), (x, y))
            cells.append(settings)
            rates.append(weight_decay if rate is None else rate)
    check_decay(rates, decay, _decay_optimizer(optimizer))
    return _validate_cells(optimizer, cells), rates


def _by_axis_value(
    optimizer: PathOptimizer, x_axis: Axis, y_axis: Axis, weight_decay: float, decay: str
) -> tuple[list[dict[str, Any]], list[float]] | None:
    """The cells from the axis values checked once each, or None where that is not the same
    as checking every cell (see the module docstring)."""
    info = optimizer.info
    if info is not None and info.extra_checks is not None:
        return None
    if _target(optimizer, x_axis.name) == _target(optimizer, y_axis.name):
        return None
    base = optimizer.hparam_dict
    xs = [_axis_part(optimizer, x_axis.name, x) for x in x_axis.values]
    ys = [_axis_part(optimizer, y_axis.name, y) for y in y_axis.values]
    # the rates in the order the cells have them, each once: the same first bad one
    set_by_axis = [rate for _, rate in ys if rate is not None] or [
        rate for _, rate in xs if rate is not None
    ]
    check_decay(set_by_axis or [weight_decay], decay, _decay_optimizer(optimizer))
    x_parts, y_parts = [{**base, **part} for part, _ in xs], [part for part, _ in ys]
    if info is not None:
        halves = x_parts + [{**base, **part} for part in y_parts]
        if any(info.problems_of_each(halves)):
            return None  # each cell on its own, for the error
        x_parts = [info.complete(part) for part in x_parts]  # normalized, every name
        y_parts = [
            {name: info.complete({**base, **part})[name] for name in part} for part in y_parts
        ]
    cells = [{**x_part, **y_part} for y_part in y_parts for x_part in x_parts]
    rates = [
        y_rate if y_rate is not None else x_rate if x_rate is not None else weight_decay
        for _, y_rate in ys
        for _, x_rate in xs
    ]
    return cells, rates


def grid_cells(
    optimizer: PathOptimizer, x_axis: Axis, y_axis: Axis, weight_decay: float, decay: str
) -> tuple[list[dict[str, Any]], list[float]]:
    """Every cell's complete, checked hyperparameters and its extra decay rate, row-major.

    Args:
        optimizer: the map's optimizer (its settings are every cell's defaults).
        x_axis, y_axis: the checked axes; their names are the optimizer's (:func:`check_names`).
        weight_decay: the map's extra decay, for cells whose axes do not set it.
        decay: its kind, checked with the rates (:func:`~optiscope.engine.check_decay`)
            before the cells.

    Raises:
        ConfigError: for a bad decay rate, or listing every problem of the cells, each with
            how many cells have it.
    """
    fast = _by_axis_value(optimizer, x_axis, y_axis, weight_decay, decay)
    if fast is not None:
        return fast
    return _each_cell(optimizer, x_axis, y_axis, weight_decay, decay)
