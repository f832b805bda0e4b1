"""Question 2 of the course exercise: momentum from scratch on its Rosenbrock function.

The exercise's function is ``(1 - x)^2 + 2 (y - x^2)^2`` (Rosenbrock with a = 1, b = 2; the
usual one has b = 100). Its names work as written::

    from optiscope.exercise import optimize_rosenbrock
    result = optimize_rosenbrock(steps=500, lr=0.01, beta=0.9)
    result.frame      # step, x, y, value: steps + 1 rows, from the start (-1, 2)
    result.plot()     # the path on the filled contour plot, as in the exercise
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from optiscope.api import PathResult, check_start, check_start_value, check_steps
from optiscope.engine import check_decay, format_hparams
from optiscope.errors import ConfigError
from optiscope.landscapes import Landscape, Point, get_landscape
from optiscope.optim import MOMENTUM, momentum_update, velocity_problem
from optiscope.plotting import build_surface, render_surface
from optiscope.records import Trajectory

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

__all__ = [
    "EXERCISE_DOMAIN",
    "EXERCISE_START",
    "optim_step",
    "optimize_rosenbrock",
    "plot_rosenbrock",
    "rosenbrock",
]

#: The exercise's plotting window: x in [-2, 2], y in [-1, 3].
EXERCISE_DOMAIN: tuple[Point, Point] = ((-2.0, 2.0), (-1.0, 3.0))
#: Where the exercise's test code starts: (-1, 2).
EXERCISE_START: Point = (-1.0, 2.0)

_ROSENBROCK = get_landscape("rosenbrock", a=1.0, b=2.0)


def rosenbrock(x: Any, y: Any) -> Any:
    """The exercise's Rosenbrock function, ``(1 - x)^2 + 2 (y - x^2)^2``.

    Works on tensors (differentiable), NumPy arrays and floats. Its minimum is ``(1, 1)``.
    """
    return _ROSENBROCK(x, y)


def plot_rosenbrock(*, a: float = 1.0, b: float = 2.0, n: int = 200) -> Figure:
    """The exercise's figure of the function: filled contours, darker is lower.

    Args:
        a, b: Rosenbrock's parameters (the exercise: 1 and 2).
        n: grid points per axis.

    Returns:
        A matplotlib Figure on the exercise's window, x in [-2, 2] and y in [-1, 3].
    """
    landscape = get_landscape("rosenbrock", a=a, b=b)
    surface = build_surface(landscape, n=n, domain=EXERCISE_DOMAIN)
    return render_surface(surface, title=f"Rosenbrock function {landscape.formula}")


def optim_step(
    x: Tensor,
    y: Tensor,
    lr: float,
    x_momentum: Tensor,
    y_momentum: Tensor,
    beta: float,
    *,
    fn: Callable[[Any, Any], Any] = rosenbrock,
    weight_decay: float = 0.0,
    decay: str = "decoupled",
) -> float:
    """One step of gradient descent with momentum, the exercise's ``optim_step``.

    1. forward pass: ``value = fn(x, y)``;
    2. backward pass: ``value.backward()`` (gradients *accumulate* into ``x.grad`` and
       ``y.grad``: zero them after each call, as the exercise's test code does);
    3. momentum, in place: ``v.mul_(beta).add_(grad, alpha=1 - beta)``;
    4. parameters, in place: ``p.add_(v, alpha=-lr)``.

    Args:
        x, y: scalar tensors with ``requires_grad=True``, updated in place.
        lr: step size.
        x_momentum, y_momentum: the velocities, scalar tensors (zeros at the start), updated
            in place.
        beta: how much of the old velocity is kept.
        fn: the function (the exercise's Rosenbrock by default).
        weight_decay: optional decay rate (question 3); 0 is the exercise.
        decay: ``"decoupled"`` (``p -= lr * wd * p`` before the update) or ``"l2"``
            (``wd * p`` added to the gradient).

    Returns:
        The function's value at ``(x, y)`` before the step.

    Raises:
        ConfigError: when ``x`` or ``y`` does not require gradients, a velocity is not a
            floating-point tensor shaped like its parameter, or for a bad ``weight_decay`` or
            ``decay``; nothing is changed then (not even ``x.grad``).
    """
    check_decay(weight_decay, decay)  # before anything is touched
    missing = [name for name, t in (("x", x), ("y", y)) if not t.requires_grad]
    if missing:
        verb = "has" if len(missing) == 1 else "have"
        raise ConfigError(
            f"optim_step needs x and y with gradients, e.g. x = torch.tensor(-1.0, "
            f"requires_grad=True); {' and '.join(missing)} {verb} no requires_grad=True. "
            "Nothing was changed."
        )
    wrong = [
        f"{name} {problem}"
        for name, param, velocity in (("x_momentum", x, x_momentum), ("y_momentum", y, y_momentum))
        if (problem := velocity_problem(param, velocity)) is not None
    ]
    if wrong:
        raise ConfigError(
            f"optim_step: {'; '.join(wrong)}; each velocity is updated in place, so it must be "
            "a float tensor shaped like its parameter, e.g. x_momentum = torch.zeros_like(x). "
            "Nothing was changed."
        )
    value = fn(x, y)  # forward pass
    value.backward()  # backward pass: x.grad += df/dx, y.grad += df/dy
    if x.grad is None or y.grad is None:
        raise ConfigError(
            "optim_step: fn(x, y) did not give both x and y a gradient; it must depend on "
            "both. Nothing was changed."
        )
    with torch.no_grad():
        for param, velocity in ((x, x_momentum), (y, y_momentum)):
            grad = param.grad
            assert grad is not None
            if weight_decay and decay == "l2":
                grad = grad.add(param, alpha=weight_decay)
            if weight_decay and decay == "decoupled":
                param.mul_(1 - lr * weight_decay)
            momentum_update(param, grad, velocity, lr, beta)
    return float(value.detach())


def optimize_rosenbrock(
    steps: int,
    lr: float,
    beta: float,
    *,
    a: float = 1.0,
    b: float = 2.0,
    start: Point = EXERCISE_START,
    weight_decay: float = 0.0,
    decay: str = "decoupled",
) -> PathResult:
    """The exercise's test code: ``steps`` calls of :func:`optim_step` from (-1, 2).

    Args:
        steps: number of steps.
        lr: step size.
        beta: momentum parameter, in [0, 1).
        a, b: Rosenbrock's parameters (the exercise: 1 and 2; the canonical function: b = 100).
        start: the start (the exercise: (-1, 2)).
        weight_decay: optional decay rate (question 3).
        decay: ``"decoupled"`` or ``"l2"``.

    Returns:
        A :class:`~optiscope.api.PathResult`: ``.frame`` has columns ``step``, ``x``, ``y``,
        ``value`` with ``steps + 1`` rows (the start first, values filled in), and ``.plot()``
        draws the path with the start, the end and the minimum marked. A path whose value
        stops being finite ends there with status ``diverged``.

    Raises:
        ConfigError: for a bad number of steps, lr, beta, start or decay.

    Examples:
        >>> result = optimize_rosenbrock(steps=500, lr=0.01, beta=0.9)
        >>> len(result.frame)
        501
    """
    steps = check_steps(steps)
    settings = MOMENTUM.validate({"lr": lr, "beta": beta})
    landscape: Landscape = get_landscape("rosenbrock", a=a, b=b)
    point = check_start(start, landscape)
    check_start_value(landscape, point, torch.float32, dtype_choice=False)
    check_decay(weight_decay, decay)

    x = torch.tensor(point[0], requires_grad=True)
    y = torch.tensor(point[1], requires_grad=True)
    momentum_x = torch.tensor(0.0)
    momentum_y = torch.tensor(0.0)
    xs, ys, values = [x.item()], [y.item()], []
    diverged = None
    for step in range(1, steps + 1):
        value = optim_step(
            x,
            y,
            lr,
            momentum_x,
            momentum_y,
            beta,
            fn=landscape,
            weight_decay=weight_decay,
            decay=decay,
        )
        assert x.grad is not None and y.grad is not None
        x.grad.zero_()
        y.grad.zero_()
        values.append(value)
        if not math.isfinite(value):
            diverged = step - 1
            break
        xs.append(x.item())
        ys.append(y.item())
    if diverged is None:
        values.append(float(landscape(x.detach(), y.detach())))
        if not math.isfinite(values[-1]):
            diverged = steps
    if diverged is not None:
        xs, ys, values = xs[:diverged], ys[:diverged], values[:diverged]
    label = f"{MOMENTUM.title} ({format_hparams(settings)})"
    path = Trajectory(
        label=label,
        x=tuple(xs),
        y=tuple(ys),
        value=tuple(values),
        status="diverged" if diverged is not None else "done",
        diverged_step=diverged,
    )
    return PathResult(
        landscape,
        path,
        start=point,
        steps=steps,
        settings={**settings, "weight_decay": weight_decay, "decay": decay},
    )
