"""``weight_decay_bias``: what weight decay does to the answer on a function with no data.

Question 3 of the exercise asks whether weight decay makes sense when minimizing Rosenbrock.
There is nothing to overfit, so decay can only move the point the optimizer settles at. This
module computes where that point is (:func:`optiscope.engine.decay_fixed_point`, at the rate
the optimizer's rest step makes effective: see :func:`_rest_rule`), runs the optimizer with
each decay rate to show it gets there, and draws both. It predicts only for the optimizers
:data:`COVERED_OPTIMIZERS` names, and refuses the others rather than guess.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from optiscope.api._landscape_common import (
    LandscapeArg,
    check_dtype,
    check_start,
    check_start_value,
    check_steps,
    resolve_landscape,
    resolve_optimizers,
)
from optiscope.engine import (
    DECAY_RULES,
    DecayFixedPoint,
    PathOptimizer,
    check_decay,
    decay_fixed_point,
    decay_fixed_points,
    run_grid,
    run_path,
)
from optiscope.errors import ConfigError, EngineError
from optiscope.landscapes import Landscape, Point
from optiscope.optim import ExerciseMomentum
from optiscope.plotting import build_decay, figure_html, figure_png, render_decay, save_figure
from optiscope.records import Trajectory

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ADAPTIVE_OPTIMIZERS", "COVERED_OPTIMIZERS", "WeightDecayResult", "weight_decay_bias"]

#: ``torch.optim`` classes whose step divides by a running root-mean-square of the gradient
#: (or its running maximum). With *decoupled* decay they settle where
#: ``g / (|g| + eps) = -wd p`` (the ``adaptive`` rule), not where ``g = -wd p``; with L2 decay
#: they follow the gradient rule. (Adagrad is not one: its sum of squares never forgets, so
#: its step shrinks toward zero and it has no such rest point.)
ADAPTIVE_OPTIMIZERS: tuple[type[torch.optim.Optimizer], ...] = (
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.Adamax,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.RMSprop,
)

#: Which optimizers the rest-point rules cover, for messages and docs.
COVERED_OPTIMIZERS = (
    "the exercise's momentum, SGD (with momentum, dampening or nesterov), Adam, AdamW, Adamax, "
    "NAdam, RAdam (amsgrad off) and RMSprop (centered off), none with maximize=True"
)


def _rest_rule(optimizer: PathOptimizer, decay: str) -> tuple[str, float] | None:
    """The fixed-point rule the optimizer's rest point follows, and its step's gain ``m``.

    At rest every step is the same, so running averages equal what they average. The
    optimizer's step along the (undecayed) gradient is then ``lr * m * u(g)`` with ``u(g) = g``
    (gradient rule) or ``g / (|g| + eps)`` (adaptive rule), while decoupled decay moves
    ``lr * wd * p``: the rest point solves ``u(g) = -(wd / m) p``. For torch's SGD the
    momentum buffer rests at ``b = (1 - dampening) g / (1 - momentum)``, so
    ``m = (1 - dampening) / (1 - momentum)`` (nesterov: ``1 + momentum * (1 - dampening) /
    (1 - momentum)``); the exercise's momentum has dampening = beta, so ``m = 1``; RMSprop's
    momentum buffer gives ``m = 1 / (1 - momentum)``. With L2 decay the decay is inside the
    averaged gradient, so the step vanishes exactly where ``g + wd p`` does and ``m`` does
    not matter.

    Returns:
        ``(rule, m)``, or ``None`` for an optimizer the rules do not cover.
    """
    hparams = optimizer.hparam_dict
    cls = optimizer.torch_class
    if hparams.get("maximize"):
        return None
    if cls is None:
        return None  # a step function: its rest point is whatever it makes it
    if issubclass(cls, ExerciseMomentum):  # v rests at g: the step is lr * g
        return "gradient", 1.0
    if issubclass(cls, torch.optim.SGD):
        if decay == "l2":
            return "gradient", 1.0
        mu = float(hparams.get("momentum", 0.0))
        damp = float(hparams.get("dampening", 0.0))
        if mu == 0:
            return "gradient", 1.0  # no buffer: torch steps along g itself
        buffer = (1 - damp) / (1 - mu)
        return "gradient", 1 + mu * buffer if hparams.get("nesterov") else buffer
    if issubclass(cls, ADAPTIVE_OPTIMIZERS):
        if decay == "l2":
            return "gradient", 1.0
        if hparams.get("amsgrad") or hparams.get("centered"):
            return None  # the max of v, or v minus the mean squared, does not rest at g^2
        if issubclass(cls, torch.optim.RMSprop):
            return "adaptive", 1 / (1 - float(hparams.get("momentum", 0.0)))
        return "adaptive", 1.0
    return None


def _rates(wd: Any) -> list[float]:
    values = [wd] if isinstance(wd, int | float) else list(wd)
    if not values:
        raise ConfigError("wd is empty; give one rate or several, e.g. wd=[0, 0.01, 0.1].")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"wd = {value!r} must be a number >= 0, e.g. wd=[0, 0.01, 0.1].")
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"wd = {value!r} must be a finite number >= 0.")
    return [float(v) for v in values]


def _fixed_points(
    landscape: Landscape,
    rates: list[float],
    rule: str,
    gain: float,
    eps: float,
    near: Point | None,
) -> list[DecayFixedPoint]:
    """The fixed points for the decay rates ``rates``, solved at the effective rates
    ``rate / gain`` (see :func:`_rest_rule`) and labelled with the rates given."""
    effective = decay_fixed_points(
        landscape, [w / gain for w in rates], rule=rule, eps=eps, near=near
    )
    return [
        dataclasses.replace(point, weight_decay=rate)
        for rate, point in zip(rates, effective, strict=True)
    ]


def _run(
    landscape: Landscape,
    optimizer: PathOptimizer,
    rates: list[float],
    decay: str,
    start: Point,
    steps: int,
    dtype: torch.dtype,
) -> list[Trajectory]:
    """One path per rate: all rates in one batched run for a registered optimizer (each path
    bit-identical to its own run), one run after another otherwise."""
    if optimizer.info is not None and optimizer.info.vectorizable:
        grid = run_grid(
            landscape,
            optimizer,
            [optimizer.hparam_dict] * len(rates),
            start=start,
            steps=steps,
            weight_decay=rates,
            decay=decay,
            dtype=dtype,
            record=True,
        )
        return [grid.trajectory(i, optimizer.label) for i in range(len(rates))]
    return [
        run_path(
            landscape,
            optimizer,
            start=start,
            steps=steps,
            weight_decay=rate,
            decay=decay,
            dtype=dtype,
        )
        for rate in rates
    ]


def weight_decay_bias(
    fn: LandscapeArg,
    wd: float | Sequence[float],
    *,
    optimizer: Any = "momentum lr=0.01 beta=0.9",
    decay: str = "decoupled",
    steps: int = 3000,
    start: Point | None = None,
    rule: str | None = None,
    near: Point | None = None,
    run: bool = True,
    dtype: str | torch.dtype = "float32",
) -> WeightDecayResult:
    """Where weight-decayed dynamics settle, how far that is from the minimum, and a check.

    With L2 decay, or the exercise's momentum or plain SGD with either kind, the point
    satisfies ``grad f(p) = -wd * p`` (it minimizes ``f + wd/2 |p|^2``). torch's SGD with
    momentum under decoupled decay takes a step ``m = (1 - dampening) / (1 - momentum)`` times
    the gradient at rest (nesterov: ``1 + momentum (1 - dampening) / (1 - momentum)``) while
    the decay stays ``lr * wd * p``, so its point satisfies ``grad f = -(wd / m) p``: closer to
    the minimum. Adam-type optimizers with decoupled decay (AdamW) satisfy
    ``g / (|g| + eps) = -wd * p`` per coordinate, which is ``eps``-close to the minimum once
    the second moment has forgotten larger gradients. Other optimizers (Adagrad, Rprop,
    LBFGS, step functions...) are refused unless ``rule`` is given.

    Args:
        fn: the function (``"rosenbrock a=1 b=2"``, a name, or a Landscape).
        wd: one decay rate or several.
        optimizer: the optimizer whose paths are run (its own ``weight_decay`` must be 0).
        decay: ``"decoupled"`` (``p -= lr * wd * p``) or ``"l2"`` (``wd * p`` in the gradient).
        steps: steps per path (enough to settle).
        start: where the paths start; default the function's start.
        rule: ``"gradient"`` or ``"adaptive"``; default chosen from the optimizer and ``decay``
            (see :data:`COVERED_OPTIMIZERS`). Giving it overrides the choice, and is the only
            way to get a prediction for an optimizer outside that list.
        near: which minimum to follow (the nearest to this point); default the minimum
            nearest to where the undecayed path ends (or the first minimum without runs).
        run: also run the optimizer once per rate (``False``: only solve for the points).
        dtype: ``"float32"`` or ``"float64"`` for the runs.

    Returns:
        A :class:`WeightDecayResult`.

    Raises:
        ConfigError: for bad settings, an optimizer with its own weight decay, an optimizer
            the rules do not cover (without ``rule``), or a rate so strong that no fixed point
            exists near the minimum.

    Examples:
        >>> result = weight_decay_bias("rosenbrock a=1 b=2", [0.01, 0.1])  # doctest: +SKIP
        >>> result.frame[["weight_decay", "fixed_distance", "final_distance"]]  # doctest: +SKIP
    """
    landscape = resolve_landscape(fn)
    rates = _rates(wd)
    (resolved,) = resolve_optimizers([optimizer])
    own = resolved.hparam_dict.get("weight_decay", 0)
    if own:
        raise ConfigError(
            f"{resolved.label} has its own weight_decay = {own:g}; weight_decay_bias sets the "
            f"decay itself. Pass weight_decay=0 in the optimizer (for example "
            f"'{resolved.name} lr=... weight_decay=0') and choose the kind with decay=."
        )
    check_decay(rates, decay, resolved)
    steps = check_steps(steps)
    point = check_start(start, landscape)
    torch_dtype = check_dtype(dtype)
    check_start_value(landscape, point, torch_dtype)
    if rule is not None and rule not in DECAY_RULES:
        raise ConfigError(f"rule = {rule!r} is unknown; choose one of: {', '.join(DECAY_RULES)}.")
    rest = _rest_rule(resolved, decay)
    if rule is None and rest is None:
        raise ConfigError(
            f"weight_decay_bias cannot predict where {resolved.label} settles with {decay} "
            f"decay: the rest-point rules cover {COVERED_OPTIMIZERS}. Use one of those, or pass "
            "rule='gradient' (grad f = -wd p) or rule='adaptive' (g / (|g| + eps) = -wd p) "
            "to choose the equation yourself. Nothing was run."
        )
    if rule is None:
        assert rest is not None
        rule, gain = rest
    else:  # the user's rule; the gain is known only when it is the optimizer's own rule
        gain = rest[1] if rest is not None and rest[0] == rule else 1.0
    eps = float(resolved.hparam_dict.get("eps", 1e-8))

    paths = _run(landscape, resolved, rates, decay, point, steps, torch_dtype) if run else []
    if near is None and paths:
        baseline = paths[rates.index(min(rates))]
        near = (baseline.x[-1], baseline.y[-1]) if baseline.status == "done" else None
    try:
        fixed = _fixed_points(landscape, rates, rule, gain, eps, near)
    except EngineError as err:  # the rate is too strong for a rest point: a bad input
        raise ConfigError(str(err)) from err
    return WeightDecayResult(
        landscape=landscape,
        optimizer=resolved,
        decay=decay,
        rule=rule,
        eps=eps,
        weight_decays=rates,
        gain=gain,
        fixed_points=fixed,
        trajectories=paths,
        start=point,
        steps=steps,
    )


class WeightDecayResult:
    """The outcome of :func:`weight_decay_bias`, one entry per decay rate (in the order given).

    Attributes:
        landscape: the function.
        optimizer: the optimizer that ran the paths.
        decay: ``decoupled`` or ``l2``.
        rule: the fixed-point equation used (``gradient`` or ``adaptive``).
        eps: Adam's epsilon, for the adaptive rule.
        weight_decays: the rates.
        gain: the optimizer's step gain ``m`` at rest: the rule is solved at ``wd / m``
            (1 except for torch's SGD and RMSprop with momentum under decoupled decay).
        fixed_points: the predicted settling point per rate.
        trajectories: the paths (empty when ``run=False``).
        start, steps: where the paths started and how long they ran.
    """

    def __init__(
        self,
        *,
        landscape: Landscape,
        optimizer: PathOptimizer,
        decay: str,
        rule: str,
        eps: float,
        weight_decays: list[float],
        fixed_points: list[DecayFixedPoint],
        gain: float = 1.0,
        trajectories: list[Trajectory],
        start: Point,
        steps: int,
    ) -> None:
        self.landscape = landscape
        self.optimizer = optimizer
        self.decay = decay
        self.rule = rule
        self.eps = eps
        self.weight_decays = weight_decays
        self.gain = gain
        self.fixed_points = fixed_points
        self.trajectories = trajectories
        self.start = start
        self.steps = steps

    @property
    def minimum(self) -> Point:
        """The minimum whose fixed points these are."""
        return self.fixed_points[0].minimum

    @property
    def points(self) -> dict[float, Point]:
        """Predicted settling point per rate."""
        return {p.weight_decay: (p.x, p.y) for p in self.fixed_points}

    @property
    def distances(self) -> dict[float, float]:
        """Predicted distance from the minimum per rate."""
        return {p.weight_decay: p.distance for p in self.fixed_points}

    @property
    def frame(self) -> pd.DataFrame:
        """One row per rate: the predicted fixed point and, when paths ran, where they ended.

        Columns: ``weight_decay``, ``fixed_x``, ``fixed_y``, ``fixed_value``,
        ``fixed_distance`` (to the minimum), ``stable``, and with runs ``status``, ``final_x``,
        ``final_y``, ``final_distance`` (to the same minimum) and ``final_to_fixed``.
        """
        import pandas as pd

        rows = []
        for index, fixed in enumerate(self.fixed_points):
            row: dict[str, Any] = {
                "weight_decay": fixed.weight_decay,
                "fixed_x": fixed.x,
                "fixed_y": fixed.y,
                "fixed_value": fixed.value,
                "fixed_distance": fixed.distance,
                "stable": fixed.stable,
            }
            if self.trajectories:
                path = self.trajectories[index]
                done = path.status == "done"
                x, y = (path.x[-1], path.y[-1]) if done else (math.nan, math.nan)
                mx, my = fixed.minimum
                row.update(
                    status=path.status,
                    final_x=x,
                    final_y=y,
                    final_distance=math.hypot(x - mx, y - my),
                    final_to_fixed=math.hypot(x - fixed.x, y - fixed.y),
                )
            rows.append(row)
        return pd.DataFrame(rows)

    def _curve(self) -> list[tuple[float, float]]:
        positive = [w for w in self.weight_decays if w > 0]
        if not positive:
            return []
        grid = np.geomspace(min(positive) / 3, max(positive) * 2, 40)
        curve = []
        for rate in grid.tolist():
            try:
                point = decay_fixed_point(
                    self.landscape,
                    rate / self.gain,
                    rule=self.rule,
                    eps=self.eps,
                    near=self.minimum,
                )
            except EngineError:
                break  # the branch ends: stronger decay has no rest point near this minimum
            curve.append((rate, point.distance))
        return curve

    def plot(self, *, ax: Sequence[Axes] | None = None) -> Figure:
        """Paths per rate, a zoom on where they end beside the predicted points, and the
        distance from the minimum against the rate (predicted line, measured dots).

        Args:
            ax: ``None`` for a new figure, or the three matplotlib axes of one figure to draw
                the panels into (``plt.subplots(1, 3)[1]``).

        Returns:
            The matplotlib Figure (``ax``'s when given).

        Raises:
            ConfigError: when ``ax`` is not three axes.
        """
        if not self.trajectories:
            raise ConfigError(
                "no paths were run (run=False); call weight_decay_bias(..., run=True)."
            )
        labelled = [
            Trajectory(
                label=f"wd = {w:g}",
                x=t.x,
                y=t.y,
                value=t.value,
                status=t.status,
                diverged_step=t.diverged_step,
            )
            for w, t in zip(self.weight_decays, self.trajectories, strict=True)
        ]
        scaled = "wd p" if self.gain == 1 else f"(wd/{self.gain:.3g}) p"
        equation = f"grad f = -{scaled}" if self.rule == "gradient" else f"g/(|g|+eps) = -{scaled}"
        data = build_decay(
            labelled,
            self.weight_decays,
            [(p.x, p.y) for p in self.fixed_points],
            self.landscape,
            minimum=self.minimum,
            curve=self._curve(),
            title=(
                f"{self.landscape.label}, {self.optimizer.label}, {self.decay} weight decay, "
                f"{self.steps} steps"
            ),
            equation=equation,
        )
        return render_decay(data, ax=ax)

    def save(self, path: str | Path) -> Path:
        """Save :meth:`plot` as PNG, SVG or PDF (by suffix); returns the path."""
        return save_figure(self.plot(), path, close=True)

    def _repr_png_(self) -> bytes:
        return figure_png(self.plot())

    def _repr_html_(self) -> str:
        return figure_html(self.plot(), self.frame, title=repr(self))

    def __repr__(self) -> str:
        parts = ", ".join(f"wd={p.weight_decay:g}: {p.distance:.3g}" for p in self.fixed_points)
        return f"WeightDecayResult({self.landscape.label}, {self.rule} rule; distance {parts})"
