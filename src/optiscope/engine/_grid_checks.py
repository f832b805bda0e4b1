"""The bookkeeping of a batched 2-D run: the step where each config diverged or reached ``tol``.

:func:`~optiscope.engine.run_grid` keeps the values and positions of a block of steps and
hands the block here, so a step costs only the function, its gradient and the update. Each
check finds exactly the step that looking at every value and position would find:

- a config *diverges at step k* when the value at its k-th position is not finite;
- it *reaches the tolerance at step k* when the float64 distance from its k-th position to the
  nearest minimum, ``landscape.distance_to_minimum``, is ``< tol`` (the check :func:`race`
  does on its path).

The steps are kept in NumPy ``int64`` arrays (``-1``: not yet) and the blocks are read as
NumPy views: a block's bookkeeping is a handful of calls on 4,096-element arrays, where each
torch call costs several microseconds of dispatch (measured under load: in torch these checks
took about 27 ms of a 0.26 s 64 x 64 map, most of it in about 30 small calls a block; about
12 ms here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from optiscope.landscapes import Landscape

__all__ = [
    "NearBox",
    "distance64",
    "record_divergence",
    "record_first",
    "record_reached",
]

#: Slack of :class:`NearBox`'s reach, relative to ``tol``: far above any rounding of the
#: float64 distance (a few units of 2**-53, or a sqrt within 2**-40 of the true root).
_REACH_SLACK = 2.0**-30
#: Absolute slack of the reach: a difference whose square underflows is below this.
_REACH_FLOOR = 2.0**-500


def _own_distance(landscape: Landscape) -> bool:
    return type(landscape).distance_to_minimum is not Landscape.distance_to_minimum


def distance64(landscape: Landscape, positions: Tensor) -> np.ndarray:
    """Distance to the nearest minimum in float64 (the positions are exact in float64), as
    :func:`race` computes it on its path: with NumPy's square root, which is correctly rounded.
    torch's float64 ``sqrt`` is not, here (MKL: 1.3% of random inputs differ by one unit in the
    last place), so a distance within one unit of ``tol`` could be a hit in one and not the
    other. A landscape with its own ``distance_to_minimum`` gets float64 tensors, as before."""
    if _own_distance(landscape):
        p64 = positions.detach().to(torch.float64)  # (..., 2)
        distance: np.ndarray = landscape.distance_to_minimum(p64[..., 0], p64[..., 1]).numpy()
        return distance  # (...)
    p = positions.detach()
    if p.dtype not in (torch.float32, torch.float64):  # NumPy has no bfloat16
        p = p.to(torch.float64)
    array = p.numpy()
    return _numpy_distance(landscape, array[..., 0], array[..., 1])  # (...)


def _numpy_distance(landscape: Landscape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The base class's distance on float64 arrays (``x`` and ``y`` widened exactly)."""
    with np.errstate(all="ignore"):  # overflow to inf and NaN as in torch: no warnings
        distance: np.ndarray = landscape.distance_to_minimum(
            x.astype(np.float64, copy=False), y.astype(np.float64, copy=False)
        )
    return distance


def record_first(found: np.ndarray, hits: np.ndarray, offset: int, cells: np.ndarray) -> None:
    """Set ``found[cells[k]]`` to ``offset`` plus the row of the first hit in column ``k`` of the
    ``(B, K)`` boolean ``hits``, for each column that has one (in place).

    The caller passes only cells not found yet, so a hit never replaces an earlier step.
    """
    has = hits.any(axis=0)  # (K,)
    found[cells[has]] = offset + hits.argmax(axis=0)[has]


def _numpy(tensor: Tensor) -> np.ndarray:
    """A NumPy view of ``tensor``; a dtype NumPy lacks (bfloat16) widened exactly to float32."""
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.to(torch.float32)
    return tensor.detach().numpy()


def record_divergence(diverged: np.ndarray, block: Tensor, offset: int) -> None:
    """Record in ``diverged`` (in place) the first value that is not finite in the ``(B, C)``
    ``block`` of values (row ``r`` is the value at position ``offset + r``), for the configs
    that had not diverged.

    A column whose sum is finite has only finite values (a NaN or an infinity makes the sum
    NaN or infinite), so the elementwise check runs only for the columns of configs that had
    not diverged whose sum is not (a new divergence, or a sum that overflowed).
    """
    values = _numpy(block)  # (B, C)
    with np.errstate(all="ignore"):  # a sum may overflow to inf: that is what is looked for
        sums = values.sum(axis=0)  # (C,)
    suspect = np.flatnonzero(~np.isfinite(sums) & (diverged < 0))  # (K,)
    if suspect.size:
        record_first(diverged, ~np.isfinite(values[:, suspect]), offset, suspect)


def _outward(value: float, dtype: torch.dtype, *, down: bool) -> float:
    """A ``dtype`` number at or beyond the real number that ``value`` (a float64 sum or
    difference, correctly rounded) approximates, on the side ``down`` says."""
    toward = -math.inf if down else math.inf
    beyond = math.nextafter(value, toward)  # past the rounding of ``value``
    rounded = torch.tensor(beyond, dtype=torch.float64).to(dtype)  # 0-d
    if (float(rounded) > beyond) if down else (float(rounded) < beyond):
        rounded = torch.nextafter(rounded, torch.tensor(toward, dtype=dtype))
    return float(rounded)


@dataclass(frozen=True)
class NearBox:
    """A cheap pre-filter of the tolerance check: it rules out the configs whose positions in a
    block stay outside a box around every minimum, and the exact float64 distance decides for
    the rest (so the steps found are those of checking every position).

    Why every hit passes: for a minimum ``(mx, my)`` the exact check computes in float64
    ``dx = fl(x - mx)``, ``s = fl(fl(dx * dx) + fl(dy * dy))`` and ``sqrt(s) < tol``. Rounding
    is monotone and ``fl(dy * dy) >= 0``, so a hit has ``fl(dx * dx) <= s < tol**2``; each
    rounding loses at most a factor ``1 - 2**-53`` (a sqrt as far as ``2**-40`` from the true
    root is allowed), so the real ``|x - mx|`` is below ``r = tol * (1 + 2**-30) + 2**-500``
    (the floor covers a ``dx * dx`` that underflows), and the same for ``y``. The box is
    ``mx - r`` to ``mx + r`` (and the same in ``y``), each end computed in float64, moved one
    float64 step outward past its rounding and rounded outward to the positions' dtype, so it
    holds every real point within ``r``. A config is ruled out when, in x or in y, its smallest
    position in the block is above the box or its largest below it: then no position of the
    block is in the box. A NaN position makes the smallest and largest NaN, which compare
    false, so the config is kept; an infinite position is kept or ruled out by the same rule,
    as it fails the exact check.

    Attributes:
        low: the boxes' lower ends, ``(M, 2, 1)`` in the positions' dtype (``[:, 0]`` x).
        high: their upper ends, ``(M, 2, 1)``.
    """

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def build(cls, landscape: Landscape, dtype: torch.dtype, tol: float) -> NearBox | None:
        """The filter, or None where it does not apply: a landscape with its own
        ``distance_to_minimum`` (not the computation bounded above), a dtype other than float32
        and float64, or a ``tol`` that is not a finite number > 0."""
        if (
            _own_distance(landscape)
            or dtype not in (torch.float32, torch.float64)
            or not landscape.minima
        ):
            return None
        if not (math.isfinite(tol) and tol > 0):
            return None
        reach = tol * (1 + _REACH_SLACK) + _REACH_FLOOR
        low = [
            [_outward(float(m) - reach, dtype, down=True) for m in point]
            for point in landscape.minima
        ]
        high = [
            [_outward(float(m) + reach, dtype, down=False) for m in point]
            for point in landscape.minima
        ]
        np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        return cls(
            np.array(low, dtype=np_dtype)[:, :, None], np.array(high, dtype=np_dtype)[:, :, None]
        )

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        """``(C,)``: False only for configs with no position of the ``(B, 2, C)`` block
        ``xy`` (``[:, 0]`` x, ``[:, 1]`` y) inside the box around any minimum."""
        with np.errstate(invalid="ignore"):  # NaN positions: kept, as the docstring says
            smallest, largest = xy.min(axis=0), xy.max(axis=0)  # (2, C) each
            outside = (smallest > self.high) | (largest < self.low)  # (M, 2, C)
        keep: np.ndarray = ~(outside[:, 0] | outside[:, 1]).all(axis=0)  # (C,)
        return keep


def record_reached(
    landscape: Landscape,
    near: NearBox | None,
    reached: np.ndarray,
    unfinished: np.ndarray,
    block: Tensor,
    offset: int,
    tol: float,
) -> None:
    """Record in ``reached`` (in place) the first position within ``tol`` of a minimum in the
    ``(B, C, 2)`` block (row ``r`` is position ``offset + r``), for the configs that had
    neither reached the tolerance nor diverged before the block (``unfinished``).

    Only the configs ``near`` keeps (every open config without it) get the exact float64
    distance, :func:`distance64`, and it decides. A config that diverged in an earlier block is
    skipped: a later hit would be dropped anyway (it is after the divergence).
    """
    active = (reached < 0) & unfinished  # (C,)
    if near is None:
        cells = np.flatnonzero(active)  # (K,)
        if cells.size == 0:
            return
        distance = distance64(landscape, block[:, torch.from_numpy(cells)])  # (B, K)
    else:  # built for float32 and float64 and the base class's distance only
        xy = block.detach().transpose(1, 2).numpy()  # (B, 2, C): a view, contiguous as stored
        cells = np.flatnonzero(active & near(xy))  # (K,)
        if cells.size == 0:
            return
        distance = _numpy_distance(landscape, xy[:, 0, cells], xy[:, 1, cells])  # (B, K)
    with np.errstate(invalid="ignore"):  # NaN distances: no hit, no warning
        hits = distance < tol  # (B, K)
    record_first(reached, hits, offset, cells)
