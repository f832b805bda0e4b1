r"""lr schedules: ``torch.optim.lr_scheduler``'s, and the same lr values without torch.

A :class:`~optiscope.records.ScheduleSpec` names one of torch's schedulers, stepped once per
epoch or once per optimizer step:

- ``constant``: no scheduler, lr stays.
- ``step`` (per epoch): ``StepLR(step_size, gamma)``.
- ``multistep`` (per epoch): ``MultiStepLR(milestones, gamma)``.
- ``exponential`` (per epoch): ``ExponentialLR(gamma)``.
- ``cosine`` (per step): ``CosineAnnealingLR(T_max=T - warmup, eta_min)``, after a warmup
  ``LinearLR(warmup_start, 1.0, total_iters=warmup)`` in a ``SequentialLR`` when warmup > 0.
- ``linear`` (per step): ``LinearLR(1.0, 0.0, total_iters=T - warmup)``, after the same warmup.
- ``onecycle`` (per step): ``OneCycleLR(max_lr=lr, total_steps=T, pct_start, div_factor,
  final_div_factor, cycle_momentum=False)``.

``T`` is the run's number of optimizer steps. The reference engine drives the real schedulers
(:func:`make_torch_scheduler`); the vectorized engine reads :func:`scheduled_lrs`, the lr of
every optimizer step computed here in Python floats by the formulas ``scheduler.step()``
applies: torch's *chainable* forms, each step's lr computed from the previous one (cosine:
:math:`\eta_{t} = \frac{1 + \cos(\pi t / T)}{1 + \cos(\pi (t - 1) / T)} (\eta_{t-1} -
\eta_{min}) + \eta_{min}`), and the closed form where torch uses it (the first step of the
second scheduler of a ``SequentialLR``). Those values differ in the last bits from the closed
forms of the docs; the tests hold them to torch's schedulers, value for value.

OneCycle does not cycle momentum here (``cycle_momentum=False``): the vectorized optimizers
take per-step lr, not per-step betas or momentum.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch

from optiscope.errors import ConfigError
from optiscope.records import ScheduleSpec

__all__ = ["make_torch_scheduler", "schedule_problem", "scheduled_lrs"]


def scheduled_lrs(
    spec: ScheduleSpec, lr: float, *, steps_per_epoch: int, epochs: int
) -> tuple[float, ...]:
    """The lr of each optimizer step of a run, as torch's scheduler sets it.

    Args:
        spec: the schedule.
        lr: the base lr (``group["lr"]`` before the scheduler is made; OneCycle's ``max_lr``).
        steps_per_epoch: optimizer steps in an epoch.
        epochs: epochs of the run.

    Returns:
        ``epochs * steps_per_epoch`` values: entry ``t - 1`` is the lr optimizer step ``t``
        uses (for per-epoch schedules, the same for every step of an epoch).

    Raises:
        ConfigError: when the schedule cannot run this long (see :func:`schedule_problem`).
    """
    problem = schedule_problem(spec, steps_per_epoch=steps_per_epoch, epochs=epochs)
    if problem is not None:
        raise ConfigError(f"{problem}. Nothing was run.")
    total = steps_per_epoch * epochs
    if not spec.per_step:
        per_epoch = _VALUES[spec.name](spec, float(lr), epochs)
        return tuple(value for value in per_epoch for _ in range(steps_per_epoch))
    return tuple(_VALUES[spec.name](spec, float(lr), total))


def schedule_problem(spec: ScheduleSpec, *, steps_per_epoch: int, epochs: int) -> str | None:
    """What keeps ``spec`` from scheduling a run of this length, or ``None``.

    The warmup must leave at least one step for the decay (cosine and linear divide by the
    steps after it), and OneCycle's phases must each last a step (``pct_start * T`` of at
    least 2, and short of ``T``), or its formula divides by zero.
    """
    total = steps_per_epoch * epochs
    if spec.name in ("cosine", "linear") and spec.warmup >= total:
        return (
            f"`warmup` = {spec.warmup} leaves no step for the {spec.name} decay: the run has "
            f"{total} optimizer steps ({epochs} epochs of {steps_per_epoch}); use a warmup "
            f"below {total}"
        )
    if spec.name == "onecycle":
        end = float(spec.pct_start * total) - 1
        if not (0 < end < total - 1):
            return (
                f"`pct_start` = {spec.pct_start:g} of {total} optimizer steps gives OneCycle a "
                f"phase without steps; choose pct_start between {2 / total:.3g} and "
                f"{(total - 1) / total:.3g}"
            )
    return None


def make_torch_scheduler(
    spec: ScheduleSpec,
    optimizer: torch.optim.Optimizer,
    *,
    steps_per_epoch: int,
    epochs: int,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Torch's scheduler for ``spec`` on ``optimizer`` (``None`` for ``constant``).

    Call its ``step()`` after each optimizer step when ``spec.per_step``, else after each
    epoch. Made with ``optimizer``'s current lr as the base lr.

    Raises:
        ConfigError: when the schedule cannot run this long (see :func:`schedule_problem`).
    """
    problem = schedule_problem(spec, steps_per_epoch=steps_per_epoch, epochs=epochs)
    if problem is not None:
        raise ConfigError(f"{problem}. Nothing was run.")
    sched = torch.optim.lr_scheduler
    total = steps_per_epoch * epochs
    if spec.name == "constant":
        return None
    if spec.name == "step":
        return sched.StepLR(optimizer, step_size=spec.step_size, gamma=spec.gamma)
    if spec.name == "multistep":
        return sched.MultiStepLR(optimizer, milestones=list(spec.milestones), gamma=spec.gamma)
    if spec.name == "exponential":
        return sched.ExponentialLR(optimizer, gamma=spec.gamma)
    if spec.name == "onecycle":
        lr = optimizer.param_groups[0]["lr"]
        return sched.OneCycleLR(
            optimizer,
            max_lr=lr,
            total_steps=total,
            pct_start=float(spec.pct_start),
            div_factor=spec.div_factor,
            final_div_factor=spec.final_div_factor,
            cycle_momentum=False,
        )
    decay: sched.LRScheduler
    if spec.name == "cosine":
        decay = sched.CosineAnnealingLR(optimizer, T_max=total - spec.warmup, eta_min=spec.eta_min)
    else:
        decay = sched.LinearLR(
            optimizer, start_factor=1.0, end_factor=0.0, total_iters=total - spec.warmup
        )
    if spec.warmup == 0:
        return decay
    warmup = sched.LinearLR(
        optimizer, start_factor=spec.warmup_start, end_factor=1.0, total_iters=spec.warmup
    )
    return sched.SequentialLR(optimizer, [warmup, decay], milestones=[spec.warmup])


# Each function gives the lr after 0, 1, ..., n - 1 calls of ``scheduler.step()`` (the first
# value is what the scheduler sets when it is made), with torch's expressions in torch's order.


def _constant(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    return [lr] * n


def _step(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    values = [lr]
    for epoch in range(1, n):
        if epoch % spec.step_size == 0:
            lr = lr * spec.gamma
        values.append(lr)
    return values


def _multistep(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    counts = Counter(spec.milestones)
    values = [lr]
    for epoch in range(1, n):
        if epoch in counts:
            lr = lr * spec.gamma ** counts[epoch]
        values.append(lr)
    return values


def _exponential(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    values = [lr]
    for _ in range(1, n):
        lr = lr * spec.gamma
        values.append(lr)
    return values


def _cosine_from(
    base: float, eta_min: float, t_max: int, lr: float, first: int, n: int
) -> list[float]:
    """``CosineAnnealingLR.get_lr`` at epochs ``first .. first + n - 1`` (each after its
    scheduler's first step), starting from ``lr``."""
    values = []
    for epoch in range(first, first + n):
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        else:
            lr = (1 + math.cos(math.pi * epoch / t_max)) / (
                1 + math.cos(math.pi * (epoch - 1) / t_max)
            ) * (lr - eta_min) + eta_min
        values.append(lr)
    return values


def _linear_from(
    start: float, end: float, total: int, lr: float, first: int, n: int
) -> list[float]:
    """``LinearLR.get_lr`` at epochs ``first .. first + n - 1`` (each > 0), from ``lr``."""
    values = []
    for epoch in range(first, first + n):
        if epoch <= total:
            lr = lr * (1.0 + (end - start) / (total * start + (epoch - 1) * (end - start)))
        values.append(lr)
    return values


def _warmup_then(
    decay: Callable[[float, int], list[float]],
    closed_form_start: Callable[[float], float],
) -> Callable[[ScheduleSpec, float, int], list[float]]:
    """A ``SequentialLR`` of a ``LinearLR`` warmup and a decay: the warmup's first value
    is ``lr * warmup_start``, then its chainable steps; at the milestone the decay starts
    from its closed form at epoch 0, then steps on from there."""

    def values(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
        if spec.warmup == 0:
            return [lr, *decay(lr, n - 1)][:n]
        warm = [lr * spec.warmup_start]
        warm += _linear_from(spec.warmup_start, 1.0, spec.warmup, warm[0], 1, spec.warmup - 1)
        warm = warm[:n]
        if n <= spec.warmup:
            return warm
        start = closed_form_start(lr)
        return [*warm, start, *decay(start, n - spec.warmup - 1)]

    return values


def _cosine(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    t_max = n - spec.warmup  # (per-step schedules are asked for exactly the run's T steps)

    def decay(start: float, count: int) -> list[float]:
        return _cosine_from(lr, spec.eta_min, t_max, start, 1, count)

    def closed(base: float) -> float:  # CosineAnnealingLR._get_closed_form_lr at epoch 0
        return spec.eta_min + (base - spec.eta_min) * (1 + math.cos(math.pi * 0 / t_max)) / 2

    return _warmup_then(decay, closed)(spec, lr, n)


def _linear(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    total = n - spec.warmup

    def decay(start: float, count: int) -> list[float]:
        return _linear_from(1.0, 0.0, total, start, 1, count)

    def closed(base: float) -> float:  # LinearLR._get_closed_form_lr at epoch 0
        return base * (1.0 + (0.0 - 1.0) * min(total, 0) / total)

    return _warmup_then(decay, closed)(spec, lr, n)


def _onecycle(spec: ScheduleSpec, lr: float, n: int) -> list[float]:
    total = n
    initial = lr / spec.div_factor
    minimum = initial / spec.final_div_factor
    phases = (
        (float(spec.pct_start * total) - 1, initial, lr),
        (total - 1, lr, minimum),
    )
    values = []
    for step in range(n):
        start_step = 0.0
        for i, (end_step, start, end) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                pct = (step - start_step) / (end_step - start_step)
                cos_out = math.cos(math.pi * pct) + 1
                values.append(end + (start - end) / 2.0 * cos_out)
                break
            start_step = end_step
    return values


_VALUES: dict[str, Callable[[ScheduleSpec, float, int], list[float]]] = {
    "constant": _constant,
    "step": _step,
    "multistep": _multistep,
    "exponential": _exponential,
    "cosine": _cosine,
    "linear": _linear,
    "onecycle": _onecycle,
}
