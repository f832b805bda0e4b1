"""The landscape playground's data: paths of up to six optimizers, fast enough for a slider.

The web page (``optiscope serve``, ``/playground``) moves a slider and asks for the paths again,
so :func:`playground_paths` must answer in well under 100 ms for six optimizers of 500 steps.
Two things make that possible without giving up exactness:

- the paths run on the batched path engine (:func:`optiscope.engine.run_grid`): optimizers of
  the same kind run as one ``(C, 2)`` computation, each row bit-identical to the path
  :func:`optiscope.race` computes for it alone (in float64, :data:`PLAYGROUND_DTYPE`);
- each optimizer's path is cached by everything that decides it (function, start, steps,
  settings, decay), so a slider that changes one optimizer recomputes only that one.

The page itself computes a moved slider's path with the same rules ported to JavaScript
(``web/static/pathsteps.js``, equal to these float64 paths to 1e-12, ``tests/test_pathsteps.py``);
these paths are what it shows once the server answers, and where the JS has no rule.

Beside the paths it gives where weight decay moves each optimizer's rest point (the same
fixed-point rules as :func:`optiscope.weight_decay_bias`), the (lr, beta) sensitivity map of
one optimizer (:func:`optiscope.sensitivity_map`), and the contour grid
(:func:`optiscope.plotting.build_surface`).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optiscope.api._landscape_common import (
    LandscapeArg,
    check_dtype,
    check_one_decay,
    check_start,
    check_start_value,
    check_steps,
    resolve_landscape,
    resolve_optimizers,
)
from optiscope.api._sensitivity import SensitivityMap, sensitivity_map
from optiscope.api._weight_decay import _fixed_points, _rest_rule
from optiscope.engine import DecayFixedPoint, PathOptimizer, check_decay, run_grid, run_path
from optiscope.errors import ConfigError, EngineError
from optiscope.grammar import Axis
from optiscope.landscapes import Landscape, Point
from optiscope.plotting import PATH_COLORS, build_paths, build_surface
from optiscope.records import Trajectory

__all__ = [
    "MAP_BETA",
    "MAX_MAP_SIDE",
    "MAX_PLAYGROUND_OPTIMIZERS",
    "MAX_PLAYGROUND_STEPS",
    "MAX_SURFACE_SIDE",
    "PLAYGROUND_DTYPE",
    "PlaygroundPaths",
    "playground_map",
    "playground_paths",
    "playground_surface",
]

#: The most optimizers one playground request runs side by side.
MAX_PLAYGROUND_OPTIMIZERS = 6
#: The most steps per path (the page's step slider scrubs through all of them).
MAX_PLAYGROUND_STEPS = 500
#: The most values per axis of the playground's sensitivity map (32 x 32 cells of 500 steps
#: run as one batched computation in about a second on two cores).
MAX_MAP_SIDE = 32
#: The most points per axis of the contour grid.
MAX_SURFACE_SIDE = 300

#: The "beta" axis of each registered optimizer's (lr, beta) map: the setting that plays the
#: part of momentum (Adam's first-moment decay, RMSprop's squared-gradient decay). Adagrad has
#: none, so its map sweeps lr against its lr_decay.
MAP_BETA: dict[str, tuple[str, float, float]] = {
    "momentum": ("beta", 0.0, 0.99),
    "sgd": ("momentum", 0.0, 0.99),
    "adam": ("beta1", 0.0, 0.99),
    "adamw": ("beta1", 0.0, 0.99),
    "rmsprop": ("alpha", 0.5, 0.999),
    "adagrad": ("lr_decay", 0.0, 0.1),
}

#: The playground's float dtype, for paths and map alike: float64, which the page's JavaScript
#: computes in (a JS number is a double), so the page and the server agree.
PLAYGROUND_DTYPE = "float64"

# Paths kept for slider moves: six optimizers times a few hundred recent settings.
_CACHE_SIZE = 2048


@dataclass(frozen=True)
class PlaygroundPaths:
    """Paths of several optimizers from one start, with their weight-decay rest points.

    Attributes:
        landscape: the function.
        optimizers: the resolved optimizers, in the order given.
        trajectories: one path each (bit-identical to :func:`optiscope.race`'s with
            ``dtype="float64"``).
        weight_decays: the extra decay rate of each optimizer.
        decay: ``"decoupled"`` or ``"l2"``.
        fixed_points: per optimizer, where its decay moves the rest point (``None`` without
            decay or when the rules do not cover it; ``fixed_notes`` says why).
        fixed_notes: per optimizer, why there is no fixed point (``""`` when there is one).
        start: the common start.
        steps: steps per path.
    """

    landscape: Landscape
    optimizers: tuple[PathOptimizer, ...]
    trajectories: tuple[Trajectory, ...]
    weight_decays: tuple[float, ...]
    decay: str
    fixed_points: tuple[DecayFixedPoint | None, ...]
    fixed_notes: tuple[str, ...]
    start: Point
    steps: int
    encoded: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready: the paths (positions and values; ``None`` for a value that is not
        finite), their colors and the fixed points."""
        paths = self._described()
        for entry, path in zip(paths, self.trajectories, strict=True):
            entry["x"] = [_finite(v) for v in path.x]
            entry["y"] = [_finite(v) for v in path.y]
            entry["value"] = [_finite(v) for v in path.value]
        return {**self._header(), "paths": paths}

    def to_json_text(self) -> str:
        """:meth:`to_json_dict` as JSON text, with each path's points encoded once when it
        was computed (the cached paths of a slider move cost no encoding)."""
        encoded = self.encoded or tuple(_encode_arrays(p) for p in self.trajectories)
        paths = [
            json.dumps(entry, allow_nan=False)[:-1] + ", " + arrays + "}"
            for entry, arrays in zip(self._described(), encoded, strict=True)
        ]
        header = json.dumps(self._header(), allow_nan=False)[:-1]
        return header + ', "paths": [' + ", ".join(paths) + "]}"

    def _header(self) -> dict[str, Any]:
        return {
            "function": self.landscape.describe(),
            "start": [_finite(v) for v in self.start],
            "steps": self.steps,
            "decay": self.decay,
        }

    def _described(self) -> list[dict[str, Any]]:
        """Each path's JSON object without its points."""
        lines = build_paths(self.trajectories, self.landscape)
        paths = []
        for index, (line, path) in enumerate(zip(lines, self.trajectories, strict=True)):
            fixed = self.fixed_points[index]
            paths.append(
                {
                    "label": line.label,
                    "legend": line.legend,
                    "color": PATH_COLORS[index % len(PATH_COLORS)],
                    "status": path.status,
                    "diverged_step": path.diverged_step,
                    "weight_decay": self.weight_decays[index],
                    "fixed_point": None
                    if fixed is None
                    else {
                        "x": _finite(fixed.x),
                        "y": _finite(fixed.y),
                        "rule": fixed.rule,
                        "distance": _finite(fixed.distance),
                        "stable": bool(fixed.stable),
                    },
                    "fixed_note": self.fixed_notes[index],
                }
            )
        return paths


def _finite(value: float) -> float | None:
    """``value``, or ``None`` when it is not finite (JSON has no NaN)."""
    return value if math.isfinite(value) else None


def _encode_arrays(path: Trajectory) -> str:
    """``"x": [...], "y": [...], "value": [...]``: the path's points as JSON members.

    Python's float repr round-trips, so the page reads the exact float64 positions; a value
    that is not finite is ``null``.
    """
    arrays = {
        "x": [_finite(v) for v in path.x],
        "y": [_finite(v) for v in path.y],
        "value": [_finite(v) for v in path.value],
    }
    return json.dumps(arrays, allow_nan=False)[1:-1]


@dataclass(frozen=True)
class _Cached:
    """A cached path and its points encoded once (a slider move re-sends five of six)."""

    path: Trajectory
    arrays: str


class _PathCache:
    """The most recent paths, by everything that decides them (thread-safe: the server answers
    requests on several threads)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._paths: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> _Cached | None:
        with self._lock:
            entry = self._paths.get(key)
            if entry is not None:
                self._paths.move_to_end(key)
            return entry

    def put(self, key: tuple[Any, ...], entry: _Cached) -> None:
        with self._lock:
            self._paths[key] = entry
            self._paths.move_to_end(key)
            while len(self._paths) > self._size:
                self._paths.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._paths.clear()


_CACHE = _PathCache(_CACHE_SIZE)


def _run_group(
    landscape: Landscape,
    group: Sequence[PathOptimizer],
    rates: Sequence[float],
    decay: str,
    start: Point,
    steps: int,
) -> list[Trajectory]:
    """Paths of optimizers of one kind: one batched run for a registered optimizer."""
    first = group[0]
    dtype = check_dtype(PLAYGROUND_DTYPE)
    if first.info is not None and first.info.vectorizable:
        grid = run_grid(
            landscape,
            first,
            [o.hparam_dict for o in group],
            start=start,
            steps=steps,
            weight_decay=list(rates),
            decay=decay,
            dtype=dtype,
            record=True,
        )
        return [grid.trajectory(i, o.label) for i, o in enumerate(group)]
    return [
        run_path(
            landscape, o, start=start, steps=steps, weight_decay=rate, decay=decay, dtype=dtype
        )
        for o, rate in zip(group, rates, strict=True)
    ]


def _fixed_point(
    landscape: Landscape, optimizer: PathOptimizer, rate: float, decay: str, path: Trajectory
) -> tuple[DecayFixedPoint | None, str]:
    """Where ``rate`` moves the optimizer's rest point, or ``None`` and the reason."""
    if rate == 0:
        return None, ""
    rest = _rest_rule(optimizer, decay)
    if rest is None:
        return None, f"no rest-point rule covers {optimizer.title} with {decay} decay"
    rule, gain = rest
    near = (path.x[-1], path.y[-1]) if path.status == "done" and path.x else None
    eps = float(optimizer.hparam_dict.get("eps", 1e-8))
    try:
        (point,) = _fixed_points(landscape, [rate], rule, gain, eps, near)
    except EngineError as err:
        return None, str(err)
    return point, ""


def playground_paths(
    fn: LandscapeArg,
    optimizers: Any,
    *,
    start: Point | None = None,
    steps: int = 300,
    weight_decay: float | Sequence[float] = 0.0,
    decay: str = "decoupled",
) -> PlaygroundPaths:
    """Run up to six optimizers from one start, each path exact and cached.

    Args:
        fn: the function (``"rosenbrock"``, ``"rosenbrock a=1 b=2"`` or a Landscape).
        optimizers: up to :data:`MAX_PLAYGROUND_OPTIMIZERS` optimizers, as :func:`optiscope.race`
            takes them (``"adam lr=0.1"`` or ``("adam", {"lr": 0.1})``).
        start: the common start; default the function's.
        steps: steps per path, at most :data:`MAX_PLAYGROUND_STEPS`.
        weight_decay: the extra decay, one rate for all or one per optimizer.
        decay: ``"decoupled"`` or ``"l2"``.

    Returns:
        A :class:`PlaygroundPaths`; each path equals ``race(fn, [optimizer], ...,
        dtype="float64")``'s, bit for bit.

    Raises:
        ConfigError: for too many optimizers or steps, or any bad setting (all optimizers
            are checked before any runs).
    """
    landscape = resolve_landscape(fn)
    resolved = resolve_optimizers(optimizers)
    if len(resolved) > MAX_PLAYGROUND_OPTIMIZERS:
        raise ConfigError(
            f"{len(resolved)} optimizers given; the playground runs at most "
            f"{MAX_PLAYGROUND_OPTIMIZERS} side by side. Remove some. Nothing was run."
        )
    steps = check_steps(steps)
    if steps > MAX_PLAYGROUND_STEPS:
        raise ConfigError(
            f"`steps` = {steps} is above the playground's limit of {MAX_PLAYGROUND_STEPS}; "
            f"use steps <= {MAX_PLAYGROUND_STEPS} (optiscope.race has no limit). Nothing was run."
        )
    if isinstance(weight_decay, int | float) and not isinstance(weight_decay, bool):
        rates = [weight_decay] * len(resolved)
    else:
        rates = list(weight_decay)  # type: ignore[arg-type]
    if len(rates) != len(resolved):
        raise ConfigError(
            f"{len(rates)} weight_decay values for {len(resolved)} optimizers; give one per "
            "optimizer or a single rate for all. Nothing was run."
        )
    point = check_start(start, landscape)
    check_start_value(landscape, point, check_dtype(PLAYGROUND_DTYPE), dtype_choice=False)
    for optimizer, rate in zip(resolved, rates, strict=True):
        check_decay(rate, decay, optimizer)
        check_one_decay(optimizer, float(rate), "the playground")
    floats = [float(r) for r in rates]

    # Paths not in the cache run batched by kind (one run_grid per optimizer name).
    keys = [
        (landscape, o, rate, decay, point, steps) for o, rate in zip(resolved, floats, strict=True)
    ]
    found: list[_Cached | None] = [_CACHE.get(key) for key in keys]
    missing: dict[str, list[int]] = {}
    for index, entry in enumerate(found):
        if entry is None:
            missing.setdefault(resolved[index].name, []).append(index)
    for indices in missing.values():
        group = [resolved[i] for i in indices]
        paths = _run_group(landscape, group, [floats[i] for i in indices], decay, point, steps)
        for index, path in zip(indices, paths, strict=True):
            found[index] = _Cached(path, _encode_arrays(path))
            _CACHE.put(keys[index], found[index])  # type: ignore[arg-type]
    entries = [entry for entry in found if entry is not None]
    trajectories = [entry.path for entry in entries]
    fixed = [
        _fixed_point(landscape, o, rate, decay, path)
        for o, rate, path in zip(resolved, floats, trajectories, strict=True)
    ]
    return PlaygroundPaths(
        landscape=landscape,
        optimizers=tuple(resolved),
        trajectories=tuple(trajectories),
        weight_decays=tuple(floats),
        decay=decay,
        fixed_points=tuple(f for f, _ in fixed),
        fixed_notes=tuple(n for _, n in fixed),
        start=point,
        steps=steps,
        encoded=tuple(entry.arrays for entry in entries),
    )


def playground_map(
    fn: LandscapeArg,
    optimizer: Any,
    *,
    lr: tuple[float, float] = (1e-4, 1.0),
    beta: tuple[float, float] | None = None,
    side: int = 16,
    start: Point | None = None,
    steps: int = 300,
    weight_decay: float = 0.0,
    decay: str = "decoupled",
) -> SensitivityMap:
    """The (lr, beta) sensitivity map of one optimizer, sized for the playground.

    The lr axis is log-spaced over ``lr``; the other axis is the optimizer's
    :data:`MAP_BETA` setting, evenly spaced over ``beta`` (default its range there). Every
    cell is the run :func:`playground_paths` gives for that optimizer with the cell's values
    (in :data:`PLAYGROUND_DTYPE`, so a clicked cell loads the path it was computed from).

    Args:
        fn: the function.
        optimizer: a registered optimizer, as text (``"adam betas=0.9,0.999"``) or
            ``(name, settings)``; the map varies its lr and beta setting.
        lr: the lr range, both ends > 0.
        beta: the beta setting's range; default :data:`MAP_BETA`'s.
        side: values per axis, 2 to :data:`MAX_MAP_SIDE`.
        start, steps, weight_decay, decay: as :func:`playground_paths`.

    Returns:
        A :class:`~optiscope.api.SensitivityMap`.

    Raises:
        ConfigError: for an optimizer without a map axis, a bad range, size or setting.
    """
    (resolved,) = resolve_optimizers([optimizer])
    if resolved.name not in MAP_BETA or resolved.info is None:
        raise ConfigError(
            f"{resolved.title} has no playground map; choose one of "
            f"{', '.join(MAP_BETA)}. Nothing was run."
        )
    if isinstance(side, bool) or not isinstance(side, int) or not 2 <= side <= MAX_MAP_SIDE:
        raise ConfigError(
            f"map side = {side!r} must be a whole number from 2 to {MAX_MAP_SIDE} "
            f"(at most {MAX_MAP_SIDE} x {MAX_MAP_SIDE} cells). Nothing was run."
        )
    steps = check_steps(steps)
    if steps > MAX_PLAYGROUND_STEPS:
        raise ConfigError(
            f"`steps` = {steps} is above the playground's limit of {MAX_PLAYGROUND_STEPS}; "
            f"use steps <= {MAX_PLAYGROUND_STEPS}. Nothing was run."
        )
    name, low, high = MAP_BETA[resolved.name]
    beta_low, beta_high = beta if beta is not None else (low, high)
    lr_low, lr_high = lr
    if not (0 < lr_low < lr_high and math.isfinite(lr_high)):
        raise ConfigError(
            f"lr range ({lr_low:g}, {lr_high:g}) must have 0 < low < high, e.g. (1e-4, 1). "
            "Nothing was run."
        )
    if not (math.isfinite(beta_low) and math.isfinite(beta_high) and beta_low < beta_high):
        raise ConfigError(
            f"{name} range ({beta_low:g}, {beta_high:g}) must have low < high, e.g. "
            f"({low:g}, {high:g}). Nothing was run."
        )
    lrs = np.geomspace(lr_low, lr_high, side).tolist()
    betas = np.linspace(beta_low, beta_high, side).tolist()
    return sensitivity_map(
        fn,
        resolved,
        (Axis("lr", tuple(lrs), True), Axis(name, tuple(betas), False)),
        steps=steps,
        start=start,
        weight_decay=weight_decay,
        decay=decay,
        dtype=PLAYGROUND_DTYPE,
    )


def playground_surface(fn: LandscapeArg, *, n: int = 160) -> dict[str, Any]:
    """The function on an ``n`` x ``n`` grid with contour levels, JSON-ready.

    Args:
        fn: the function.
        n: points per axis, 8 to :data:`MAX_SURFACE_SIDE`.

    Raises:
        ConfigError: for an unknown function or a grid size out of range.
    """
    landscape = resolve_landscape(fn)
    if isinstance(n, bool) or not isinstance(n, int) or not 8 <= n <= MAX_SURFACE_SIDE:
        raise ConfigError(
            f"grid size n = {n!r} must be a whole number from 8 to {MAX_SURFACE_SIDE}. "
            "Nothing was run."
        )
    data = build_surface(landscape, n=n).to_dict()
    data["function"] = landscape.describe()
    return data
