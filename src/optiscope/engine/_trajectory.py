"""2-D runs: one optimizer's path on a landscape, and many configs at once for sensitivity maps.

Nothing is added to what the optimizer does: no gradient clipping, no rescaling, no retries.
The only optional extra is weight decay, applied the way torch applies it, and recorded:

- ``decay="decoupled"`` (AdamW's): before the update, ``p.mul_(1 - lr * weight_decay)``;
- ``decay="l2"`` (Adam's and SGD's): ``grad + weight_decay * p`` goes into the update.

So Adam with ``weight_decay=w, decay="decoupled"`` is ``torch.optim.AdamW(weight_decay=w)`` bit
for bit, and with ``decay="l2"`` it is ``torch.optim.Adam(weight_decay=w)``.

A run *diverges at step k* when the value at the k-th position is not finite (a position that
is not finite has no finite value); it stops there and keeps positions 0 to k - 1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
import torch
from torch import Tensor

from optiscope.engine._gradient import value_and_grad
from optiscope.engine._grid_checks import NearBox, distance64, record_divergence, record_reached
from optiscope.engine._path_optimizers import STEP_FUNCTION_HELP, PathOptimizer, batched_names
from optiscope.engine._threads import one_intra_op_thread
from optiscope.errors import ConfigError
from optiscope.landscapes import Landscape, Point
from optiscope.records import Trajectory

__all__ = ["DECAYS", "Decay", "GridRun", "check_decay", "run_grid", "run_path"]

Decay = Literal["decoupled", "l2"]
DECAYS: tuple[str, ...] = ("decoupled", "l2")

ProgressCallback = Callable[[int], None]
Params = ParamSpec("Params")
Result = TypeVar("Result")


def check_decay(
    weight_decay: float | Sequence[float], decay: str, optimizer: PathOptimizer | None = None
) -> None:
    """Check the weight decay settings of a landscape run.

    Raises:
        ConfigError: for an unknown ``decay``, a negative or non-finite rate, or decoupled
            decay for an optimizer without a learning rate.
    """
    if decay not in DECAYS:
        raise ConfigError(
            f"decay = {decay!r} is not a kind of weight decay; choose 'decoupled' (AdamW's "
            "p -= lr * wd * p) or 'l2' (wd * p added to the gradient)."
        )
    rates = [weight_decay] if isinstance(weight_decay, int | float) else list(weight_decay)
    for rate in rates:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ConfigError(f"weight_decay = {rate!r} must be a number >= 0.")
        if not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"weight_decay = {rate!r} must be a finite number >= 0, e.g. 0.01.")
    if optimizer is None or not any(rates):
        return
    if decay == "decoupled" and optimizer.lr is None:
        raise ConfigError(
            f"{optimizer.label}: decoupled weight decay moves p by lr * weight_decay * p, but "
            "this optimizer has no `lr`; give it one (as a keyword argument) or use decay='l2'."
        )
    if decay == "decoupled" and optimizer.needs_closure:
        raise ConfigError(
            f"{optimizer.label} evaluates the function several times per step, so decoupled "
            "decay has no single place to go; use decay='l2'."
        )


def _start_tensor(start: Point, dtype: torch.dtype) -> Tensor:
    return torch.tensor([float(start[0]), float(start[1])], dtype=dtype)  # (2,)


def _as_position(result: Any, fallback: Tensor, optimizer: PathOptimizer) -> Tensor:
    """The step function's return value as a tensor shaped like ``fallback``."""
    if result is None:
        return fallback
    tensor = torch.as_tensor(result, dtype=fallback.dtype).detach()
    if tensor.shape != fallback.shape:
        raise ConfigError(
            f"step function {optimizer.name} returned shape {tuple(tensor.shape)}; it must "
            f"return the new position, shape {tuple(fallback.shape)}.\n{STEP_FUNCTION_HELP}"
        )
    return tensor


def _single_threaded(fn: Callable[Params, Result]) -> Callable[Params, Result]:
    @functools.wraps(fn)
    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with one_intra_op_thread():
            return fn(*args, **kwargs)

    return wrapper


@_single_threaded
def run_path(
    landscape: Landscape,
    optimizer: PathOptimizer,
    *,
    start: Point | None = None,
    steps: int = 500,
    weight_decay: float = 0.0,
    decay: str = "decoupled",
    dtype: torch.dtype = torch.float32,
    on_step: ProgressCallback | None = None,
) -> Trajectory:
    """Run one optimizer from ``start`` for ``steps`` steps and record every position.

    Args:
        landscape: the function to minimize.
        optimizer: from :func:`resolve_optimizer`.
        start: the first position; default the landscape's.
        steps: optimizer steps (the path has ``steps + 1`` positions).
        weight_decay: rate of the extra weight decay (0: none).
        decay: ``"decoupled"`` or ``"l2"`` (see the module docstring).
        dtype: float dtype of the position (float32, as ``torch.tensor`` makes it by default).
        on_step: called with the step number after each step.

    Returns:
        The path with the value at every position; ``status="diverged"`` and
        ``diverged_step`` when a value was not finite.
    """
    check_decay(weight_decay, decay, optimizer)
    position = _start_tensor(start or landscape.start, dtype)
    xs, ys, values = [float(position[0])], [float(position[1])], []
    l2 = weight_decay if decay == "l2" else 0.0
    decoupled = weight_decay if decay == "decoupled" else 0.0

    if optimizer.step_function is not None:
        evaluate = _function_stepper(landscape, optimizer, position, l2, decoupled)
    else:
        evaluate = _torch_stepper(landscape, optimizer, position, l2, decoupled)

    diverged_step = None
    for step in range(1, steps + 1):
        value, position = evaluate()  # value at the position before this step
        values.append(value)
        if not math.isfinite(value):
            diverged_step = step - 1
            break
        xs.append(float(position[0]))
        ys.append(float(position[1]))
        if on_step is not None:
            on_step(step)
    if diverged_step is None:
        with torch.no_grad():
            final = float(landscape(position[0], position[1]))
        values.append(final)
        if not math.isfinite(final):
            diverged_step = steps
    if diverged_step is not None:
        xs, ys, values = xs[:diverged_step], ys[:diverged_step], values[:diverged_step]
    return Trajectory(
        label=optimizer.label,
        x=tuple(xs),
        y=tuple(ys),
        value=tuple(values),
        status="diverged" if diverged_step is not None else "done",
        diverged_step=diverged_step,
    )


def _torch_stepper(
    landscape: Landscape, optimizer: PathOptimizer, start: Tensor, l2: float, decoupled: float
) -> Callable[[], tuple[float, Tensor]]:
    """One step of a ``torch.optim`` optimizer: forward, backward, decay, ``opt.step()``."""
    p = start.clone().requires_grad_(True)  # (2,)
    opt = optimizer.build([p])
    lr = optimizer.lr or 0.0

    def closure() -> Tensor:
        opt.zero_grad()
        value = landscape(p[0], p[1])
        value.backward()
        if l2:
            assert p.grad is not None
            p.grad.add_(p.detach(), alpha=l2)  # what Adam and SGD do with weight_decay
        return value

    def step() -> tuple[float, Tensor]:
        if optimizer.needs_closure:
            # LBFGS-style: step() evaluates the function itself and returns the first value
            loss: Any = opt.step(closure)  # type: ignore[arg-type]
            value = float(loss.detach())
        else:
            value = float(closure().detach())
            if decoupled:
                with torch.no_grad():
                    p.mul_(1 - lr * decoupled)  # what AdamW does, before the update
            opt.step()
        return value, p.detach()

    return step


def _function_stepper(
    landscape: Landscape, optimizer: PathOptimizer, start: Tensor, l2: float, decoupled: float
) -> Callable[[], tuple[float, Tensor]]:
    """One step of a user's step function: value and gradient by autograd, then the function."""
    assert optimizer.step_function is not None
    fn, hparams = optimizer.step_function, optimizer.hparam_dict
    lr = optimizer.lr or 0.0
    state: dict[str, Any] = {}
    position = start.clone()

    def step() -> tuple[float, Tensor]:
        nonlocal position
        p = position.clone().requires_grad_(True)  # (2,)
        value = landscape(p[0], p[1])
        (grad,) = torch.autograd.grad(value, p)
        if l2:
            grad = grad.add(position, alpha=l2)
        if decoupled:
            position = position.mul(1 - lr * decoupled)
        with torch.no_grad():
            moved = fn(position.clone(), grad, state, **hparams)
        position = _as_position(moved, position, optimizer)
        return float(value.detach()), position

    return step


@dataclass(frozen=True)
class GridRun:
    """Where each of C configs ended, as NumPy arrays of length C.

    Attributes:
        final_x, final_y: the last position (NaN after divergence).
        final_value: the value there (NaN after divergence).
        final_distance: distance from the last position to the nearest minimum (NaN after
            divergence).
        diverged_step: the step whose value was first not finite, or -1.
        reached_step: the first step whose position is within ``tol`` of a minimum, or -1
            (step 0 is the start).
        tol: the tolerance used for ``reached_step``.
        steps: steps run.
        positions: with ``record=True``, every position, ``(steps + 1, C, 2)`` float64.
        values: with ``record=True``, the value at every position, ``(steps + 1, C)``.
    """

    final_x: np.ndarray
    final_y: np.ndarray
    final_value: np.ndarray
    final_distance: np.ndarray
    diverged_step: np.ndarray
    reached_step: np.ndarray
    tol: float
    steps: int
    positions: np.ndarray | None = None
    values: np.ndarray | None = None

    def trajectory(self, index: int, label: str) -> Trajectory:
        """Config ``index``'s path as :func:`run_path` records it (needs ``record=True``)."""
        if self.positions is None or self.values is None:
            raise ValueError("run_grid(..., record=True) keeps the paths; this run did not.")
        end = int(self.diverged_step[index])
        stop = self.steps + 1 if end < 0 else end
        return Trajectory(
            label=label,
            x=tuple(self.positions[:stop, index, 0].tolist()),
            y=tuple(self.positions[:stop, index, 1].tolist()),
            value=tuple(self.values[:stop, index].tolist()),
            status="done" if end < 0 else "diverged",
            diverged_step=None if end < 0 else end,
        )


#: Elements (steps x configs) of the position and value blocks checked together: divergence
#: and the tolerance are looked at once per block, not at every step, which keeps a step to
#: the function, its gradient and the update (the checks were a dozen small calls a step).
#: 2**17 (32 steps of a 64 x 64 map, a 1 MB float32 position block): the checks took 11.7 ms
#: of the map against 13.8 ms at 2**16 (medians of 10, under load); larger blocks fall out of
#: the cache.
BLOCK_ELEMENTS = 1 << 17


def _grid_start(start: Tensor, c: int) -> Tensor:
    """``(C, 2)`` copies of ``start`` stored column by column, so ``P[:, 0]`` and ``P[:, 1]``
    (the function's inputs at every step) are contiguous."""
    return torch.empty(2, c, dtype=start.dtype).t().copy_(start.expand(c, 2))  # (C, 2)


@_single_threaded
def run_grid(
    landscape: Landscape,
    optimizer: PathOptimizer,
    hparams: Sequence[Mapping[str, Any]],
    *,
    start: Point | None = None,
    steps: int = 1000,
    tol: float = 1e-3,
    weight_decay: float | Sequence[float] = 0.0,
    decay: str = "decoupled",
    dtype: torch.dtype = torch.float32,
    on_step: ProgressCallback | None = None,
    record: bool = False,
) -> GridRun:
    """Run C configs of one optimizer from the same start, as one batched computation.

    The positions are one ``(C, 2)`` tensor; the function, its gradient and the optimizer's
    update act on all rows at once, with each config's hyperparameters as per-config columns
    (the registered optimizers' vectorized updates). Each row is bit-identical to a
    :func:`run_path` of that config alone. Divergence and the tolerance are checked on
    blocks of steps at once (the same values, compared the same way).

    Args:
        landscape: the function.
        optimizer: a vectorizable optimizer (registered, or a step function).
        hparams: one complete hyperparameter dict per config (C of them); for a step function,
            the keyword arguments it is called with, each as a ``(C, 1)`` column.
        start: the common start; default the landscape's.
        steps: steps per config.
        tol: distance to a minimum that counts as reached.
        weight_decay: extra decay rate, one for all or one per config.
        decay: ``"decoupled"`` or ``"l2"``.
        dtype: float dtype of the positions.
        on_step: called with the step number after each step.
        record: keep every position and value (``GridRun.trajectory`` gives each path).

    Returns:
        Final positions, values, distances, and the steps where each config diverged or
        reached the tolerance.

    Raises:
        ConfigError: for an optimizer that cannot run batched or bad decay settings.
    """
    if not optimizer.vectorizable:
        raise ConfigError(
            f"{optimizer.title} cannot run many configs as one batched computation; use a "
            f"registered optimizer ({batched_names()}) or a step function."
        )
    c = len(hparams)
    rates = [float(weight_decay)] * c if isinstance(weight_decay, int | float) else weight_decay
    rates = [float(r) for r in rates]
    if len(rates) != c:
        raise ConfigError(f"got {len(rates)} weight_decay values for {c} configs.")
    check_decay(rates, decay, optimizer)
    P = _grid_start(_start_tensor(start or landscape.start, dtype), c)  # (C, 2)
    lrs = [float(h.get("lr", 0.0)) for h in hparams]
    l2 = torch.tensor(rates if decay == "l2" else [0.0] * c, dtype=dtype)[:, None]  # (C, 1)
    decoupled = (
        [1 - lr * r for lr, r in zip(lrs, rates, strict=True)] if decay == "decoupled" else []
    )
    shrink = torch.tensor(decoupled, dtype=torch.float64).to(dtype)[:, None] if decoupled else None
    any_l2, any_decoupled = bool(l2.any()), bool(decoupled) and any(r != 0 for r in rates)

    step_update = _grid_updater(optimizer, P, hparams)
    diverged = np.full(c, -1, dtype=np.int64)  # (C,): step of the first value not finite
    with np.errstate(invalid="ignore"):  # (C,): step of the first position within tol
        reached = np.where(distance64(landscape, P) < tol, 0, -1)
    near_box = NearBox.build(landscape, P.dtype, tol)
    positions: list[Tensor] | None = [P.detach().clone()[None]] if record else None
    values: list[Tensor] | None = [] if record else None
    block = max(1, min(steps, BLOCK_ELEMENTS // max(c, 1)))  # steps per block
    value_block: Tensor | None = None  # values at positions first-1 ... first+B-2, (B, C)
    # positions first ... first+B-1, x and y each contiguous (as P stores them)
    position_block = torch.empty(block, 2, c, dtype=dtype).transpose(1, 2)  # (B, C, 2)
    first = 1  # the step whose result is row 0 of the blocks
    # a registered function's explicit gradient (autograd's ops without its bookkeeping)
    evaluate = value_and_grad(landscape, dtype)
    for step in range(1, steps + 1):
        # value (C,) at the position before this step, and its gradient (C, 2)
        value, grad = evaluate(P)
        row = step - first
        if value_block is None:  # in the function's own dtype (a float64 value stays one)
            value_block = torch.empty(block, c, dtype=value.dtype)
        value_block[row] = value
        with torch.no_grad():
            if any_l2:
                grad = torch.addcmul(grad, P, l2)  # grad.add(p, alpha=wd), per config
            if any_decoupled and shrink is not None:
                P.mul_(shrink)  # p.mul_(1 - lr * wd), per config
            P = step_update(P, grad)
        position_block[row] = P.detach()
        if row + 1 == block or step == steps:
            n = row + 1  # steps first ... step are in the blocks
            unfinished = diverged < 0  # (C,): had not diverged before this block
            record_divergence(diverged, value_block[:n], first - 1)
            record_reached(landscape, near_box, reached, unfinished, position_block[:n], first, tol)
            if positions is not None and values is not None:
                positions.append(position_block[:n].clone())
                values.append(value_block[:n].clone())
            first = step + 1
        if on_step is not None:
            on_step(step)
    with torch.no_grad():
        final_value = landscape(P[:, 0], P[:, 1])  # (C,)
    diverged[(diverged < 0) & ~torch.isfinite(final_value).numpy()] = steps
    ok = diverged < 0  # (C,)
    reached[~ok & (reached >= diverged)] = -1  # a hit at or after the divergence is dropped

    def masked(values: Tensor) -> np.ndarray:
        array = values.detach().to(torch.float64).numpy().copy()
        array[~ok] = np.nan
        return array

    final_distance = distance64(landscape, P)  # (C,), a new array
    final_distance[~ok] = np.nan

    return GridRun(
        final_x=masked(P[:, 0]),
        final_y=masked(P[:, 1]),
        final_value=masked(final_value),
        final_distance=final_distance,
        diverged_step=diverged,
        reached_step=reached,
        tol=tol,
        steps=steps,
        positions=None if positions is None else torch.cat(positions).double().numpy(),
        values=None if values is None else torch.cat([*values, final_value[None]]).double().numpy(),
    )


def _grid_updater(
    optimizer: PathOptimizer, P: Tensor, hparams: Sequence[Mapping[str, Any]]
) -> Callable[[Tensor, Tensor], Tensor]:
    """``update(P, grad) -> P``: the registered vectorized update, or the step function."""
    if optimizer.step_function is not None:
        fn = optimizer.step_function
        names = sorted({k for h in hparams for k in h})
        columns = {
            name: torch.tensor([float(h[name]) for h in hparams], dtype=P.dtype)[:, None]
            for name in names
        }  # each (C, 1)
        state: dict[str, Any] = {}

        def function_update(P: Tensor, grad: Tensor) -> Tensor:
            return _as_position(fn(P.clone(), grad, state, **columns), P, optimizer)

        return function_update
    info = optimizer.info
    assert info is not None and info.init_state is not None and info.step is not None
    step = info.step
    opt_state = info.init_state([P], hparams)

    def registered_update(P: Tensor, grad: Tensor) -> Tensor:
        step([P], [grad], opt_state)
        return P

    return registered_update
