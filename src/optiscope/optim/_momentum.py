r"""The course exercise's momentum, written from scratch (question 2).

With gradient ``g`` and a velocity ``v`` that starts at zero:

.. math::

    v &\leftarrow \beta v + (1 - \beta) g \\
    p &\leftarrow p - \text{lr} \, v

This is an exponential moving average of the gradients (Polyak's heavy ball with dampening,
https://doi.org/10.1016/0041-5553(64)90137-5). It equals
``torch.optim.SGD(momentum=beta, dampening=beta)`` step by step, bit for bit, *when SGD's
momentum buffer starts at zero*; see :data:`FIRST_STEP_DIFFERENCE` for why the plain SGD
differs at its first step.

Three forms live here: :func:`momentum_update` (one parameter, the exercise's in-place
update), :class:`ExerciseMomentum` (the same as a ``torch.optim`` optimizer, so it races
beside torch's own) and :func:`momentum_step` (K configs stacked, with per-config ``lr`` and
``beta`` columns, for sensitivity maps). :data:`MOMENTUM` describes it the way the optimizer
registry describes torch's optimizers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optiscope.optim._base import ColumnCache, HParamSpec, OptimizerInfo

__all__ = [
    "FIRST_STEP_DIFFERENCE",
    "MOMENTUM",
    "ExerciseMomentum",
    "MomentumState",
    "init_momentum_state",
    "momentum_reference_step",
    "momentum_step",
    "momentum_update",
    "velocity_problem",
]

FIRST_STEP_DIFFERENCE = """\
torch.optim.SGD(momentum=beta, dampening=beta) is the exercise's momentum from the second step
on, but not at the first: SGD starts its buffer at the first gradient, undamped, while the
exercise starts its velocity at zero.

    # the exercise (and optiscope's ExerciseMomentum): v_1 = (1 - beta) * g_1
    v = torch.zeros_like(p)
    v.mul_(beta).add_(p.grad, alpha=1 - beta)

    # torch.optim.SGD at its first step:               buf_1 = g_1
    buf = p.grad.clone()

So SGD's first step is 1 / (1 - beta) times longer (10x for beta = 0.9) and the paths differ
from then on. To get the exercise's numbers from SGD, start its buffer at zero:

    opt = torch.optim.SGD([p], lr=lr, momentum=beta, dampening=beta)
    opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
"""


def velocity_problem(param: Tensor, velocity: Any) -> str | None:
    """What is wrong with ``velocity`` as the in-place velocity of ``param``, or ``None``.

    :func:`momentum_update` writes ``beta * v + (1 - beta) * g`` into the velocity in place,
    so it must be a tensor of a floating-point dtype (an integer tensor cannot hold the
    result) and of the parameter's shape.
    """
    if not isinstance(velocity, Tensor):
        return f"is a {type(velocity).__name__}, not a tensor"
    if not velocity.is_floating_point():
        return f"has dtype {str(velocity.dtype).removeprefix('torch.')}, not a floating-point one"
    if velocity.shape != param.shape:
        return f"has shape {tuple(velocity.shape)}, not its parameter's {tuple(param.shape)}"
    return None


@torch.no_grad()
def momentum_update(param: Tensor, grad: Tensor, velocity: Tensor, lr: float, beta: float) -> None:
    """One in-place step of the exercise's momentum.

    ``velocity.mul_(beta).add_(grad, alpha=1 - beta)`` is the exercise's hint (``mul_`` and
    ``add_``) and also exactly what ``torch.optim.SGD`` does with its buffer.

    Args:
        param: the parameter, updated in place.
        grad: its gradient, same shape.
        velocity: the running average of gradients, updated in place (zeros at the start).
        lr: step size.
        beta: how much of the old velocity is kept.
    """
    velocity.mul_(beta).add_(grad, alpha=1 - beta)
    param.add_(velocity, alpha=-lr)


class ExerciseMomentum(torch.optim.Optimizer):
    """The exercise's momentum as a ``torch.optim`` optimizer.

    Args:
        params: parameters or parameter groups, as for any ``torch.optim`` optimizer.
        lr: step size (> 0).
        beta: velocity decay in [0, 1); ``beta = 0`` is plain gradient descent.

    Raises:
        ConfigError: for a bad ``lr`` or ``beta``, naming the value and the allowed range.

    Examples:
        >>> p = torch.tensor([-1.0, 2.0], requires_grad=True)
        >>> opt = ExerciseMomentum([p], lr=0.01, beta=0.9)
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, beta: float = 0.9) -> None:
        hparams = MOMENTUM.validate({"lr": lr, "beta": beta}, where="ExerciseMomentum: ")
        super().__init__(params, hparams)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step for every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(param)
                momentum_update(param, param.grad, state["velocity"], group["lr"], group["beta"])
        return loss


@dataclass
class MomentumState(ColumnCache):
    """State of K stacked configs of the exercise's momentum.

    Attributes:
        velocity: one per parameter, zeros at the start.  # (K, *param_shape)
        lr, beta: per-config hyperparameters, K Python floats each.
        columns: per-config columns ``(K, 1, ...)`` in the parameters' dtype, by name and rank.
    """

    velocity: list[Tensor]
    lr: tuple[float, ...]
    beta: tuple[float, ...]


def init_momentum_state(
    params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]
) -> MomentumState:
    """Zero velocities for stacked ``params`` and the K configs' hyperparameters.

    Args:
        params: stacked parameters, each ``(K, *param_shape)``.
        hparams: K validated hyperparameter dicts (``lr``, ``beta``), in stacking order.
    """
    sizes = {int(p.shape[0]) for p in params}
    if sizes != {len(hparams)}:
        raise ValueError(
            f"stacked parameters have leading sizes {sorted(sizes)} but {len(hparams)} "
            "hyperparameter sets were given; stack one slice per config."
        )
    return MomentumState(
        velocity=[torch.zeros_like(p) for p in params],
        lr=tuple(float(h["lr"]) for h in hparams),
        beta=tuple(float(h["beta"]) for h in hparams),
    )


@torch.no_grad()
def momentum_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: MomentumState) -> None:
    """One step of K stacked configs, in place; bit-identical to K :func:`momentum_update` calls.

    ``addcmul_(g, c)`` computes ``v + g * c`` with the single rounding of torch's
    ``add_(g, alpha=c)`` (a fused multiply-add), so a per-config column stands in for the
    scalar ``alpha``; ``1 - beta`` is formed in Python doubles and rounded once, as torch
    rounds the ``alpha`` it is given.

    Args:
        params: stacked parameters ``(K, *shape)``, updated in place.
        grads: their gradients, same shapes.
        state: from :func:`init_momentum_state`.
    """
    for p, g, v in zip(params, grads, state.velocity, strict=True):
        v.mul_(state.column("beta", state.beta, p))
        v.addcmul_(g, state.column("1-beta", lambda: [1 - b for b in state.beta], p))  # (K, *shape)
        p.addcmul_(v, state.column("-lr", lambda: [-lr for lr in state.lr], p))  # (K, *shape)


def momentum_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One step of one config: the exercise's :func:`momentum_update` on each parameter,
    velocities starting at zero."""
    if "velocity" not in state:
        state["velocity"] = [torch.zeros_like(p) for p in params]
    for p, g, v in zip(params, grads, state["velocity"], strict=True):
        momentum_update(p, g, v, hparams["lr"], hparams["beta"])


#: The exercise's momentum in the optimizer registry's shape (not in ``OPTIMIZERS``, which lists
#: the optimizers for training networks; the 2-D landscape runs add it).
MOMENTUM = OptimizerInfo(
    name="momentum",
    title="Momentum",
    torch_class=ExerciseMomentum,
    summary="the exercise's momentum from scratch: v = beta v + (1 - beta) g; p -= lr v",
    hparams=(
        HParamSpec("lr", 0.01, low=0.0, low_open=True, doc="step size"),
        HParamSpec("beta", 0.9, low=0.0, high=1.0, high_open=True, doc="velocity decay"),
    ),
    init_state=init_momentum_state,
    step=momentum_step,
    reference_step=momentum_reference_step,
)
