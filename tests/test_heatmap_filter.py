"""The heatmap's tolerance pre-filter rules out only cells that the exact float64 check would
not count: distances exactly at ``tol`` and one float step inside it, minima that float32
cannot hold, NaN and infinite positions, and cells that reach ``tol`` and then diverge in the
same block. Each case compares with checking every position exactly (no filter)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optiscope.engine import _grid_checks, resolve_optimizer, run_grid
from optiscope.landscapes import Landscape, get_landscape

BLOCK = 8  # steps per block in these tests


def _exact(landscape: Landscape, block: torch.Tensor, tol: float, offset: int) -> np.ndarray:
    """The first step of each cell whose position is within ``tol``, checking every position
    in float64 (what run_grid did before the filter)."""
    near = _grid_checks.distance64(landscape, block) < tol  # (B, C)
    first = [int(np.argmax(column)) + offset if column.any() else -1 for column in near.T]
    return np.array(first)


def _filtered(landscape: Landscape, block: torch.Tensor, tol: float, offset: int) -> np.ndarray:
    near = _grid_checks.NearBox.build(landscape, block.dtype, tol)
    assert near is not None
    reached = np.full(block.shape[1], -1)
    unfinished = np.ones(block.shape[1], dtype=bool)
    _grid_checks.record_reached(landscape, near, reached, unfinished, block, offset, tol)
    return reached


def _as_block(points: torch.Tensor) -> torch.Tensor:
    """``(B, C, 2)`` positions stored as run_grid stores them (x and y each contiguous)."""
    block = torch.empty(points.shape[0], 2, points.shape[1], dtype=points.dtype)
    return block.transpose(1, 2).copy_(points)


def _around(minimum: tuple[float, float], tol: float, cells: int, dtype: torch.dtype, seed: int):
    """``(BLOCK, cells, 2)`` positions at random angles, at distances from ``0.97 tol`` to
    ``1.2 tol`` of ``minimum``: the boundary in every direction, a hit in about one row in
    seven (so some cells have one and some none)."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * math.pi, (BLOCK, cells))
    radius = tol * rng.uniform(0.97, 1.2, (BLOCK, cells))
    points = np.stack(
        [minimum[0] + radius * np.cos(angle), minimum[1] + radius * np.sin(angle)], -1
    )
    return _as_block(torch.tensor(points, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau", "saddle", "beale"])
def test_points_on_the_boundary_give_the_exact_steps(name: str, dtype: torch.dtype) -> None:
    """Cells straddling ``tol`` around each minimum (himmelblau's are not float32 numbers)."""
    f = get_landscape(name)
    for index, minimum in enumerate(f.minima):
        for tol in (1e-3, 0.37, 1e-6):
            block = _around(minimum, tol, 256, dtype, seed=index)
            expected = _exact(f, block, tol, offset=5)
            assert 0 < int((expected >= 0).sum()) < 256  # both kinds of cell are here
            assert np.array_equal(_filtered(f, block, tol, offset=5), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_distance_exactly_at_tol_and_one_step_inside(dtype: torch.dtype) -> None:
    """With ``tol`` set to a position's own float64 distance the exact check says no (the
    comparison is strict); one float64 step above, it says yes, and the filter keeps that cell."""
    f = get_landscape("himmelblau")
    block = _around(f.minima[1], 1e-3, 256, dtype, seed=7)
    distances = _grid_checks.distance64(f, block)  # (B, C)
    for cell in range(0, 256, 17):
        row = cell % BLOCK
        at = float(distances[row, cell])
        above = math.nextafter(at, math.inf)
        for tol in (at, above):
            column = block[:, cell : cell + 1]  # (B, 1, 2)
            expected = _exact(f, column, tol, offset=0)
            assert np.array_equal(_filtered(f, column, tol, offset=0), expected)
        column = block[:, cell : cell + 1]
        assert int(_filtered(f, column, above, offset=0)[0]) >= 0  # the boundary case is a hit


def test_nan_and_inf_positions_and_a_hit_before_divergence() -> None:
    """A cell that reaches ``tol`` and then goes to NaN or infinity in the same block keeps
    its step; a cell that is only NaN or infinite has none; a far cell is ruled out, and so
    is a cell whose positions are all on one side of the box (infinite ones too)."""
    f = get_landscape("rosenbrock")  # minimum (1, 1)
    tol, nan, inf = 1e-3, math.nan, math.inf
    cells = [
        [(1.5, 1.5), (1.0002, 0.9999), (nan, nan), (nan, nan)],  # reaches at row 1, then NaN
        [(1.5, 1.5), (1.0, 1.0005), (inf, -inf), (nan, 1.0)],  # reaches at row 1, then inf
        [(nan, nan)] * 4,  # NaN throughout
        [(inf, 1.0), (1.0, -inf), (inf, inf), (-inf, 3.0)],  # infinite throughout
        [(1.0, nan), (nan, 1.0), (1.0, 1.0), (2.0, 2.0)],  # a NaN half, then the minimum
        [(5.0, 5.0)] * 4,  # far
        [(inf, 1.0), (1.5, -inf), (2.0, inf), (inf, nan)],  # x always right of the box
    ]
    points = torch.tensor(cells, dtype=torch.float32).transpose(0, 1)  # (4, C, 2)
    block = _as_block(points)
    expected = _exact(f, block, tol, offset=10)
    assert expected.tolist() == [11, 11, -1, -1, 12, -1, -1]  # from the rows above, by hand
    assert np.array_equal(_filtered(f, block, tol, offset=10), expected)
    near = _grid_checks.NearBox.build(f, torch.float32, tol)
    assert near is not None
    # NaN keeps a cell; the infinite cell's x and y both span the box, so only the exact
    # check (above) rules it out; the last cell's smallest x, 1.5, is right of the box
    kept = near(block.transpose(1, 2).numpy())
    assert kept.tolist() == [True, True, True, True, True, False, False]


def test_cells_reached_or_diverged_before_the_block_are_not_checked() -> None:
    f = get_landscape("rosenbrock")
    block = _as_block(torch.ones(4, 3, 2))  # every position is the minimum
    near = _grid_checks.NearBox.build(f, torch.float32, 1e-3)
    reached = np.array([-1, 7, -1])
    unfinished = np.array([True, True, False])
    _grid_checks.record_reached(f, near, reached, unfinished, block, 20, 1e-3)
    assert reached.tolist() == [20, 7, -1]


def test_where_the_filter_does_not_apply_every_position_is_checked() -> None:
    """A landscape with its own distance, other dtypes and a tol that is not a finite number
    > 0 get no filter (the bound is proved for the base class's float64 distance only)."""
    f = get_landscape("rosenbrock")

    class Elsewhere(Landscape):
        def distance_to_minimum(self, x, y):  # type: ignore[no-untyped-def,override]
            return super().distance_to_minimum(x, y) * 0.0

    other = Elsewhere(**{k: getattr(f, k) for k in f.__dataclass_fields__})
    assert _grid_checks.NearBox.build(other, torch.float32, 1e-3) is None
    assert _grid_checks.NearBox.build(f, torch.float16, 1e-3) is None
    for tol in (0.0, -1.0, math.nan, math.inf):
        assert _grid_checks.NearBox.build(f, torch.float32, tol) is None
    assert _grid_checks.NearBox.build(f, torch.float64, 1e-3) is not None


def test_run_grid_with_its_own_distance_counts_every_hit() -> None:
    """End to end: a landscape whose "minimum" is the circle of radius 2.55 around (1, 1) is
    reached mid-run, where a filter built around (1, 1) would rule every cell out."""
    f = get_landscape("rosenbrock")

    class Ring(Landscape):
        def distance_to_minimum(self, x, y):  # type: ignore[no-untyped-def,override]
            return (super().distance_to_minimum(x, y) - 2.55).abs()

    ring = Ring(**{k: getattr(f, k) for k in f.__dataclass_fields__})
    optimizer = resolve_optimizer("momentum")
    cells = [{**optimizer.hparam_dict, "lr": lr} for lr in (1e-3, 3e-3)]
    start, tol = (-1.5, 2.0), 0.01  # 2.69 from (1, 1)
    run = run_grid(ring, optimizer, cells, start=start, steps=200, tol=tol, record=True)
    assert run.positions is not None
    x, y = run.positions[..., 0], run.positions[..., 1]  # (steps + 1, C)
    on_ring = np.abs(np.sqrt((x - 1.0) ** 2 + (y - 1.0) ** 2) - 2.55) < tol
    expected = [int(np.argmax(column)) if column.any() else -1 for column in on_ring.T]
    assert all(step > 0 for step in expected)  # reached mid-run, by every cell
    assert run.reached_step.tolist() == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tol", [1e-6, 1e-3, 0.25])
def test_hits_along_the_axes_at_the_boundary_are_kept(dtype: torch.dtype, tol: float) -> None:
    """The tightest case of the filter's bound: a position straight along an axis from a
    minimum that float32 cannot hold (himmelblau's), a few float steps around ``tol`` away,
    with ``tol`` nudged to one float64 step above its exact distance, so each is a hit."""
    f = get_landscape("himmelblau")
    for mx, my in f.minima:
        for sign in (1.0, -1.0):
            center = torch.tensor(mx + sign * tol, dtype=dtype)
            xs = [center]
            for _ in range(4):
                xs.append(torch.nextafter(xs[-1], torch.tensor(math.inf, dtype=dtype)))
                xs.insert(0, torch.nextafter(xs[0], torch.tensor(-math.inf, dtype=dtype)))
            for x in xs:
                for point in (
                    (x, torch.tensor(my, dtype=dtype)),
                    (torch.tensor(mx, dtype=dtype), x - mx + my),
                ):
                    block = _as_block(torch.stack(point).to(dtype).view(1, 1, 2))
                    distance = float(_grid_checks.distance64(f, block)[0, 0])
                    if distance == 0.0:
                        continue
                    hit = math.nextafter(distance, math.inf)
                    assert int(_exact(f, block, hit, offset=3)[0]) == 3
                    assert int(_filtered(f, block, hit, offset=3)[0]) == 3


@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau"])
def test_the_float64_distance_is_the_one_race_computes(name: str) -> None:
    """Each distance equals ``distance_to_minimum`` on two Python floats, as ``race`` checks
    its path, bit for bit. (torch's float64 sqrt is not correctly rounded on every machine: on
    the AMD EPYC it differs from NumPy's by one unit in the last place for about 1% of these
    positions, enough to move a step at a distance one unit from ``tol``.)"""
    f = get_landscape(name)
    block = torch.cat([_around(m, 1e-3, 500, torch.float32, seed=3) for m in f.minima], 1)
    distances = _grid_checks.distance64(f, block)  # (B, C)
    points = block.double().reshape(-1, 2).tolist()
    expected = [f.distance_to_minimum(x, y) for x, y in points]
    assert distances.ravel().tolist() == expected
