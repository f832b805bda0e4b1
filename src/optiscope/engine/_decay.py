r"""Where weight-decayed dynamics settle on a landscape (question 3 of the exercise).

A 2-D function has no data to overfit, so weight decay cannot help generalization; it only
changes *where* the optimizer stops. The settling point is a fixed point of the update:

- **gradient rule**: plain SGD and the exercise's momentum with either kind of decay, and
  any optimizer with L2 decay (Adam's ``weight_decay``). At rest the step is proportional to
  ``grad f(p) + wd p``, so

  .. math::  \nabla f(p) = -\text{wd} \, p,

  the stationary point of :math:`f(p) + \tfrac{\text{wd}}{2} \|p\|^2`: decay minimizes a
  different function, whose minimum is pulled toward the origin. An optimizer whose rest step
  is ``m`` times the gradient while decoupled decay stays ``lr * wd * p`` (torch's SGD with
  momentum: ``m = (1 - dampening) / (1 - momentum)``) rests where the rate is ``wd / m``; the
  caller passes that rate (:func:`optiscope.weight_decay_bias` does).

- **adaptive rule**: Adam-type steps with *decoupled* decay (AdamW). At rest AdamW's step is
  ``lr * (g / (|g| + eps) + wd p)`` per coordinate (moments equal to ``g`` and ``g^2``), so

  .. math::  g_i / (|g_i| + \epsilon) = -\text{wd} \, p_i,

  that is ``g_i = -eps wd p_i / (1 - wd |p_i|)`` (for ``wd |p_i| < 1``): a bias of the order
  of ``eps``. Getting there takes as long as the second moment takes to forget larger gradients
  (about ``1 / (1 - beta2)`` steps and more); before that the bias is larger.

:func:`decay_fixed_point` solves either equation with Newton's method in float64, following
the branch that starts at a minimum of ``f`` as the decay grows from 0 (continuation), so the
answer is the point the decayed dynamics settle at near that minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from optiscope.errors import ConfigError, EngineError
from optiscope.landscapes import Landscape, Point

__all__ = [
    "DECAY_RULES",
    "DecayFixedPoint",
    "Rule",
    "decay_fixed_point",
    "decay_fixed_points",
]

Rule = Literal["gradient", "adaptive"]
DECAY_RULES: tuple[str, ...] = ("gradient", "adaptive")

# Newton stops when its step is this small relative to the point; a continuation step whose
# solve does not converge is halved (and grows again after a success) before the branch is
# declared lost.
_STEP_TOLERANCE = 1e-14
_NEWTON_ITERATIONS = 30


@dataclass(frozen=True)
class DecayFixedPoint:
    """Where decayed dynamics settle near one minimum.

    Attributes:
        weight_decay: the decay rate.
        rule: ``gradient`` or ``adaptive`` (see the module docstring).
        x, y: the fixed point.
        value: the function's value there.
        minimum: the minimum whose branch was followed.
        distance: Euclidean distance from the fixed point to that minimum.
        residual: largest absolute entry of the equation's left minus right side (float64).
        stable: whether the fixed point attracts (for the gradient rule: the Hessian of
            ``f + wd/2 |p|^2`` is positive definite there).
    """

    weight_decay: float
    rule: str
    x: float
    y: float
    value: float
    minimum: Point
    distance: float
    residual: float
    stable: bool


def _equation(landscape: Landscape, rule: str, wd: float, eps: float) -> Callable[[Tensor], Tensor]:
    def grad(p: Tensor) -> Tensor:
        with torch.enable_grad():
            q = p if p.requires_grad else p.detach().requires_grad_(True)
            value = landscape(q[0], q[1])
            (g,) = torch.autograd.grad(value, q, create_graph=True)
        return g  # (2,)

    def equation(p: Tensor) -> Tensor:
        g = grad(p)
        if rule == "gradient":
            return g + wd * p  # (2,)
        # g_i / (|g_i| + eps) = -wd p_i  <=>  g_i = -eps wd p_i / (1 - wd |p_i|)  (wd |p_i| < 1)
        return g + eps * wd * p / (1 - wd * p.abs())  # (2,)

    return equation


def _newton(equation: Callable[[Tensor], Tensor], p: Tensor) -> tuple[Tensor, bool]:
    """Damped Newton on ``equation(p) = 0`` from ``p``; returns the point and whether it converged.

    Convergence is judged by the size of the Newton step, not the residual: near a minimum the
    gradient is a difference of nearly equal terms, so the residual stops at rounding noise
    while the point is already as exact as float64 allows.
    """
    for _ in range(_NEWTON_ITERATIONS):
        value = equation(p).detach()  # (2,)
        J = torch.autograd.functional.jacobian(equation, p)  # (2, 2)
        try:
            move = torch.linalg.solve(J, value)  # (2,)
        except RuntimeError:  # singular Jacobian
            return p, False
        if not bool(torch.isfinite(move).all()):
            return p, False
        scale = 1 + float(p.abs().max())
        if float(move.abs().max()) <= _STEP_TOLERANCE * scale:
            return (p - move).detach(), True
        residual = float(value.abs().max())
        t = 1.0
        while t > 1e-6:
            candidate = (p - t * move).detach()
            new_residual = float(equation(candidate).detach().abs().max())
            if math.isfinite(new_residual) and new_residual < residual:
                break
            t /= 2
        else:  # no decrease: rounding noise, fine if the step is already tiny
            return p, float(move.abs().max()) <= 1e3 * _STEP_TOLERANCE * scale
        p = candidate
    return p, False


def _check(weight_decay: float, rule: str) -> None:
    if rule not in DECAY_RULES:
        raise ConfigError(
            f"rule = {rule!r} is unknown; choose 'gradient' (SGD, momentum, L2 decay) or "
            "'adaptive' (AdamW's decoupled decay)."
        )
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, int | float):
        raise ConfigError(f"weight_decay = {weight_decay!r} must be a number >= 0.")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"weight_decay = {weight_decay!r} must be a finite number >= 0.")


def decay_fixed_points(
    landscape: Landscape,
    weight_decays: Sequence[float],
    *,
    rule: str = "gradient",
    eps: float = 1e-8,
    near: Point | None = None,
) -> list[DecayFixedPoint]:
    """Solve for the point where weight-decayed dynamics settle, for several rates.

    The rates are visited in increasing order from 0, each solve starting from the previous
    point (continuation), so all points lie on the branch that starts at one minimum.

    Args:
        landscape: the function.
        weight_decays: decay rates (>= 0), in any order.
        rule: ``"gradient"`` (SGD, momentum, any L2 decay: ``grad f = -wd p``) or
            ``"adaptive"`` (AdamW: ``g / (|g| + eps) = -wd p`` per coordinate).
        eps: Adam's epsilon, for the adaptive rule.
        near: which minimum's branch to follow (the minimum nearest this point); default
            the landscape's first minimum.

    Returns:
        One fixed point per rate, in the order given.

    Raises:
        ConfigError: for a bad rule or rate.
        EngineError: when the branch cannot be followed (the decay is so strong that the
            fixed point near this minimum disappears).
    """
    for weight_decay in weight_decays:
        _check(weight_decay, rule)
    minimum = landscape.nearest_minimum(*near) if near is not None else landscape.minima[0]
    p = torch.tensor(minimum, dtype=torch.float64)  # (2,)
    done = 0.0
    found: dict[float, DecayFixedPoint] = {}
    for target in sorted({float(w) for w in weight_decays}):
        step = target - done
        while done < target:
            goal = min(target, done + step)
            candidate, converged = _newton(_equation(landscape, rule, goal, eps), p)
            if rule == "adaptive" and goal * float(candidate.abs().max()) >= 1:
                converged = False  # decay outpulls the largest normalized step: no rest point
            if converged:
                p, done, step = candidate, goal, 2 * step
            elif step > max(target, 1e-12) * 1e-4:
                step /= 4
            else:
                raise EngineError(
                    f"no fixed point near the minimum {minimum} of {landscape.label} for "
                    f"weight_decay = {target:g} ({rule} rule): the branch ends near "
                    f"weight_decay = {done:g}. Use a smaller rate."
                )
        found[target] = _describe(landscape, rule, target, eps, p, minimum)
    return [found[float(w)] for w in weight_decays]


def decay_fixed_point(
    landscape: Landscape,
    weight_decay: float,
    *,
    rule: str = "gradient",
    eps: float = 1e-8,
    near: Point | None = None,
) -> DecayFixedPoint:
    """Solve for the point where weight-decayed dynamics settle, near one minimum.

    See :func:`decay_fixed_points` for the arguments.

    Examples:
        >>> from optiscope.landscapes import get_landscape
        >>> point = decay_fixed_point(get_landscape("rosenbrock", b=2), 0.1)
        >>> round(point.distance, 3)
        0.258
    """
    return decay_fixed_points(landscape, [weight_decay], rule=rule, eps=eps, near=near)[0]


def _describe(
    landscape: Landscape, rule: str, wd: float, eps: float, p: Tensor, minimum: Point
) -> DecayFixedPoint:
    equation = _equation(landscape, rule, wd, eps)
    residual = float(equation(p).detach().abs().max())
    J = torch.autograd.functional.jacobian(equation, p)  # (2, 2)
    if rule == "gradient":  # J is the Hessian of f + wd/2 |p|^2
        stable = bool(torch.linalg.eigvalsh((J + J.T) / 2).min() > 0)
    else:
        stable = bool(torch.linalg.eigvals(J).real.min() > 0)
    x, y = float(p[0]), float(p[1])
    return DecayFixedPoint(
        weight_decay=wd,
        rule=rule,
        x=x,
        y=y,
        value=float(landscape(x, y)),
        minimum=minimum,
        distance=math.hypot(x - minimum[0], y - minimum[1]),
        residual=residual,
        stable=stable,
    )
