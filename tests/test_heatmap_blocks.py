"""Sensitivity maps check divergence and the tolerance on blocks of steps: the block
bookkeeping must give the steps a per-step scan gives, and every batched optimizer's cells
must still equal their races when the grid is large enough for the vectorized kernels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from optiscope import race, sensitivity_map
from optiscope.engine import PATH_OPTIMIZERS, _trajectory, resolve_optimizer, run_grid
from optiscope.landscapes import get_landscape

STEPS = 60
TOL = 0.05

#: The second axis of each batched optimizer's map (the first is lr). Every vectorizable
#: registered optimizer must be here, so a new one is tested the day it is registered.
SECOND_AXIS: dict[str, tuple[str, list[float]]] = {
    "momentum": ("beta", [0.0, 0.5, 0.9, 0.99]),
    "sgd": ("momentum", [0.0, 0.5, 0.9, 0.99]),
    "adam": ("beta1", [0.0, 0.5, 0.9, 0.99]),
    "adamw": ("beta1", [0.0, 0.5, 0.9, 0.99]),
    "rmsprop": ("alpha", [0.5, 0.9, 0.99, 0.999]),
    "adagrad": ("lr_decay", [0.0, 0.01, 0.1, 0.5]),
    "nadam": ("beta1", [0.0, 0.5, 0.9, 0.99]),
    "radam": ("beta1", [0.0, 0.5, 0.9, 0.99]),
    "adamax": ("beta1", [0.0, 0.5, 0.9, 0.99]),
}
LRS = [1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3]  # the largest diverge for some optimizers


def _small_blocks(monkeypatch: pytest.MonkeyPatch, cells: int, steps_per_block: int) -> None:
    """Blocks of ``steps_per_block`` steps, so a run has several and a partial last one."""
    monkeypatch.setattr(_trajectory, "BLOCK_ELEMENTS", cells * steps_per_block)


def test_every_batched_optimizer_is_listed() -> None:
    batched = {name for name, info in PATH_OPTIMIZERS.items() if info.vectorizable}
    assert batched == set(SECOND_AXIS)


@pytest.mark.parametrize("name", sorted(SECOND_AXIS))
def test_each_cell_of_a_24_cell_map_equals_its_race(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """24 cells (48 floats: the vectorized kernels' main loops, not only their tails), blocks
    of 7 steps (60 = 8 * 7 + 4): final position, value, divergence and tolerance steps."""
    _small_blocks(monkeypatch, 24, 7)
    axis, values = SECOND_AXIS[name]
    fixed = "momentum=0.5" if name == "rmsprop" else ""  # rmsprop's momentum path too
    result = sensitivity_map(
        "rosenbrock a=1 b=2",
        f"{name} {fixed}".strip(),
        {"lr": LRS, axis: values},
        steps=STEPS,
        tol=TOL,
    )
    frame = result.frame
    assert len(frame) == 24
    for cell in frame.to_dict(orient="records"):
        spec = f"{name} {fixed} lr={cell['lr']!r} {axis}={cell[axis]!r}"
        alone = race("rosenbrock a=1 b=2", [spec], steps=STEPS, tol=TOL)
        path, summary = alone.trajectories[0], alone.summary().iloc[0]
        assert cell["status"] == path.status, spec
        if path.status == "diverged":
            assert cell["diverged_step"] == path.diverged_step, spec
        else:
            assert (cell["final_x"], cell["final_y"]) == (path.x[-1], path.y[-1]), spec
            assert cell["final_value"] == path.value[-1], spec
        reached, expected = cell["reached_step"], summary["steps_to_tol"]
        assert (pd.isna(reached) and pd.isna(expected)) or reached == expected, spec


def _scan(run: Any, landscape: Any, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """The divergence and tolerance steps from every recorded position, one step at a time,
    as the module docstring defines them."""
    assert run.positions is not None and run.values is not None
    values, positions = run.values, run.positions  # (steps + 1, C), (steps + 1, C, 2)
    cells = values.shape[1]
    diverged, reached = np.full(cells, -1), np.full(cells, -1)
    for cell in range(cells):
        bad = np.flatnonzero(~np.isfinite(values[:, cell]))
        end = int(bad[0]) if bad.size else len(values)
        diverged[cell] = int(bad[0]) if bad.size else -1
        x, y = positions[:end, cell, 0], positions[:end, cell, 1]
        near = np.flatnonzero(np.asarray(landscape.distance_to_minimum(x, y)) < tol)
        reached[cell] = int(near[0]) if near.size else -1
    return diverged, reached


@pytest.mark.parametrize("steps_per_block", [1, 4, 7, 255])
def test_block_checks_give_the_steps_a_per_step_scan_gives(
    steps_per_block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SGD on the canonical Rosenbrock: cells that diverge early, late, never, and cells that
    reach the tolerance before diverging; recorded (every position) and unrecorded runs agree."""
    optimizer = resolve_optimizer("sgd momentum=0.9")
    lrs = np.linspace(6.6e-3, 8.5e-3, 12).tolist()  # found by a scan: every kind of cell
    cells = [{**optimizer.hparam_dict, "lr": lr} for lr in lrs]
    f = get_landscape("rosenbrock")
    _small_blocks(monkeypatch, len(cells), steps_per_block)
    start, tol = (0.7, 0.5), 0.55  # the start is 0.58 from the minimum
    recorded = run_grid(f, optimizer, cells, start=start, steps=80, tol=tol, record=True)
    plain = run_grid(f, optimizer, cells, start=start, steps=80, tol=tol)
    diverged, reached = _scan(recorded, f, tol)
    assert 0 < (diverged >= 0).sum() < len(cells)  # both kinds of cell are in the test
    assert ((reached >= 0) & (diverged >= 0)).any()  # some reach the tolerance, then diverge
    np.testing.assert_array_equal(recorded.diverged_step, diverged)
    np.testing.assert_array_equal(recorded.reached_step, reached)
    for name in ("diverged_step", "reached_step", "final_x", "final_y", "final_value"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(recorded, name))
    assert math.isnan(plain.final_x[int(np.argmax(diverged))])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs_give_the_steps_a_per_step_scan_gives(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_grid takes any float dtype (the maps offer float32 and float64): without the box
    filter every open cell gets the float64 distance, and bfloat16 values, which NumPy cannot
    hold, are widened exactly for the divergence check."""
    optimizer = resolve_optimizer("sgd momentum=0.9")
    lrs = np.linspace(6.6e-3, 8.5e-3, 12).tolist()
    cells = [{**optimizer.hparam_dict, "lr": lr} for lr in lrs]
    f = get_landscape("rosenbrock")
    _small_blocks(monkeypatch, len(cells), 7)
    start, tol = (0.7, 0.5), 0.55
    run = run_grid(f, optimizer, cells, start=start, steps=80, tol=tol, dtype=dtype, record=True)
    diverged, reached = _scan(run, f, tol)
    assert (reached >= 0).any() and (diverged >= 0).any()
    np.testing.assert_array_equal(run.diverged_step, diverged)
    np.testing.assert_array_equal(run.reached_step, reached)
