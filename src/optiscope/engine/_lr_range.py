r"""Leslie Smith's lr range test for many optimizers and seeds in one stacked run.

Smith (2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3,
https://arxiv.org/abs/1506.01186) trains briefly while the lr grows, and reads a good lr off
the loss. As fastai runs it (``LRFinder``): step ``t = 0 .. N-1`` uses

.. math:: \mathrm{lr}_t = \mathrm{lr}_{\min} \, (\mathrm{lr}_{\max} / \mathrm{lr}_{\min})^{t / N}

and records the training loss of step ``t``'s batch (computed before the step's update)
smoothed as fastai's ``AvgSmoothLoss``: :math:`a_t = \beta a_{t-1} + (1 - \beta) \ell_t`,
:math:`s_t = a_t / (1 - \beta^{t+1})`, :math:`\beta = 0.98`. A config stops after the step
whose smoothed loss exceeds 4 times the best smoothed loss so far (divergence), or after ``N``
steps.

Here K configs (optimizers x seeds) share one stacked network (parameters ``(K, row)``, one
batched forward and backward per step); each optimizer updates its own rows with its
vectorized update, the lr of each step given as a :class:`~optiscope.optim.StepLrs`. Every
number equals the plain loop: ``build_mlp(seed)``, ``torch.optim`` with ``group["lr"]`` set
before each step, batches in the engine's order (``tests/test_lr_find.py`` holds them equal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from optiscope.data import Dataset, make_dataset
from optiscope.engine._exact import InexactError, save_choices
from optiscope.engine._threads import one_intra_op_thread
from optiscope.engine._validate import validate_config
from optiscope.engine._vectorized import _Nets, _Orders
from optiscope.errors import ConfigError
from optiscope.models import stack_mlps
from optiscope.optim import StepLrs, get_optimizer, matches_reference
from optiscope.records import RunConfig

__all__ = [
    "DIVERGENCE",
    "SMOOTHING",
    "LrRange",
    "lr_ramp",
    "lr_range_test",
    "smooth_losses",
    "stop_index",
]

#: fastai's smoothing of the recorded loss (``AvgSmoothLoss(beta=0.98)``).
SMOOTHING = 0.98
#: fastai stops when the smoothed loss exceeds this multiple of the best one so far.
DIVERGENCE = 4.0


def lr_ramp(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """``min_lr * (max_lr / min_lr) ** (t / steps)`` for ``t = 0 .. steps - 1`` (fastai's
    ``SchedExp`` at ``pos = t / steps``: the last step stays just below ``max_lr``)."""
    return [min_lr * (max_lr / min_lr) ** (t / steps) for t in range(steps)]


def _moving_average(average: float, loss: float) -> float:
    """One step of the moving average: ``torch.lerp(loss, average, beta)`` in doubles."""
    return loss + SMOOTHING * (average - loss)


def smooth_losses(losses: Sequence[float]) -> list[float]:
    """fastai's debiased exponential moving average of the losses (see the module)."""
    average, out = 0.0, []
    for count, loss in enumerate(losses, start=1):
        average = _moving_average(average, loss)
        out.append(average / (1.0 - SMOOTHING**count))
    return out


def stop_index(smoothed: Sequence[float], divergence: float = DIVERGENCE) -> int:
    """How many steps fastai records: up to and including the first whose smoothed loss is
    above ``divergence`` x the best so far (or is not finite)."""
    best = math.inf
    for index, value in enumerate(smoothed):
        best = min(best, value)
        if not math.isfinite(value) or value > divergence * best:
            return index + 1
    return len(smoothed)


@dataclass(frozen=True)
class LrRange:
    """One config's range test.

    Attributes:
        config: its config (its lr is replaced by the ramp).
        lrs: the lr of each recorded step.
        losses: each recorded step's training loss (the batch's MSE, or cross-entropy for
            classification, before the update).
        smoothed: the smoothed losses.
        diverged: whether it stopped on divergence before the last step.
    """

    config: RunConfig
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    diverged: bool


def lr_range_test(
    configs: Sequence[RunConfig],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    data: Dataset | None = None,
    device: str | torch.device = "cpu",
) -> list[LrRange]:
    """Run the range test for every config at once (see the module docstring).

    Args:
        configs: configs that share batch size, network, data and shuffling; optimizers and
            seeds may differ (each optimizer needs a vectorized update). Their ``lr`` is
            replaced by the ramp; ``epochs`` is ignored (the test runs ``steps`` steps).
        min_lr, max_lr: the ramp's ends, ``0 < min_lr < max_lr``.
        steps: steps of the ramp (fastai: 100).
        data: the data; ``None`` builds ``configs[0].data``.
        device: where to train.

    Returns:
        One :class:`LrRange` per config, in order.

    Raises:
        ConfigError: for an invalid config, a bad range, or configs that cannot share a run.
        InexactError: when an optimizer's vectorized update does not reproduce torch.optim
            on this device.
    """
    if not 0 < min_lr < max_lr or not math.isfinite(max_lr):
        raise ConfigError(
            f"the lr range {min_lr!r} .. {max_lr!r} is not a range: lr-find needs "
            f"0 < min_lr < max_lr, e.g. 1e-7 .. 10."
        )
    if steps < 6:
        raise ConfigError(f"steps = {steps!r} is too few for the range test; use 6 or more.")
    if not configs:
        raise ConfigError("no configs to test; pass at least one RunConfig.")
    for number, config in enumerate(configs, start=1):
        validate_config(config, where=f"config {number} of {len(configs)}: ")
    shared = {(c.batch_size, c.hidden, c.activation, c.data, c.shuffle) for c in configs}
    if len(shared) > 1:
        raise ConfigError(
            "lr-find runs its configs as one stacked model: they must share batch size, "
            "network, data and shuffling (optimizers and seeds may differ)."
        )
    with one_intra_op_thread():
        return _run(list(configs), min_lr, max_lr, steps, data, torch.device(device))


def _run(
    configs: list[RunConfig],
    min_lr: float,
    max_lr: float,
    steps: int,
    data: Dataset | None,
    device: torch.device,
) -> list[LrRange]:
    first = configs[0]
    data = data if data is not None else make_dataset(first.data)
    k, n, batch_size = len(configs), data.n_train, first.batch_size
    ramp = lr_ramp(min_lr, max_lr, steps)
    schedule = StepLrs(ramp)
    # Each optimizer updates its own rows: the configs are stacked optimizer by optimizer.
    groups: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        groups.setdefault(config.optimizer, []).append(index)
    order = [i for rows in groups.values() for i in rows]  # row r trains configs[order[r]]
    ordered = [configs[i] for i in order]
    params, layout = stack_mlps(
        data.n_features,
        first.hidden,
        first.activation,
        [c.seed for c in ordered],
        device=device,
        out_features=data.n_outputs,
    )  # (K, row)
    grads = torch.zeros_like(params)  # (K, row)
    updates = []
    start = 0
    for name, rows in groups.items():
        info = get_optimizer(name)
        if info.step is None or info.init_state is None:
            raise ConfigError(
                f"optimizer {name!r} has no vectorized update, which lr-find needs; choose "
                f"one with a vectorized update."
            )
        hparams = []
        for i in rows:
            values = info.complete({**configs[i].hparam_dict, "lr": min_lr})
            hparams.append({**values, "lr": schedule})
        if not matches_reference(info, hparams, device):
            raise InexactError(
                f"{info.title}'s vectorized update does not reproduce torch.optim on {device} "
                f"for lr-find's configs."
            )
        block = slice(start, start + len(rows))
        view = [params[block]]  # (k_o, row): the optimizer's rows, updated in place
        updates.append((info.step, view, [grads[block]], info.init_state(view, hparams)))
        start += len(rows)
    X, y = data.X_train.to(device), data.y_train.to(device)  # (N, F), (N, 1)
    starts = list(range(0, n, batch_size))
    epochs = -(-steps // len(starts))
    nets = _Nets(layout, first.activation, params, grads, epochs, classes=data.n_classes)
    losses = torch.empty(len(starts), k, device=device)  # (batches, K): each step's loss
    orders = _Orders(ordered, n) if first.shuffle else None
    if orders is not None:
        sizes = [min(s + batch_size, n) - s for s in starts]
        shuffled = [nets.train(rows, None, per_epoch=sizes.count(rows)) for rows in sizes]
        plans = [net.plan(net.x, net.y, losses[j]) for j, net in enumerate(shuffled)]  # type: ignore[arg-type]
    else:
        plans = nets.plans(X, y, batch_size, losses, train=True)
    save_choices()  # the probes' answers, for later processes on this machine
    recorded: list[list[float]] = [[] for _ in range(k)]
    smoothed: list[list[float]] = [[] for _ in range(k)]
    averages, best = [0.0] * k, [math.inf] * k
    stopped = [False] * k
    step = 0
    while step < steps and not all(stopped):
        picked_order = orders.next_epoch(device) if orders is not None else None  # (K, N)
        for j, plan in enumerate(plans):
            if step >= steps or all(stopped):
                break
            if picked_order is not None:
                picked = picked_order[:, starts[j] : starts[j] + batch_size]  # (K, B)
                shuffled[j].x.copy_(X[picked])  # type: ignore[union-attr]  # (K, B, F)
                shuffled[j].y.copy_(y[picked])  # type: ignore[union-attr]  # (K, B, 1) / (K, B)
            plan()
            for update, view, grad, state in updates:
                update(view, grad, state)
            step += 1
            for r, loss in enumerate(losses[j].tolist()):
                if stopped[r]:
                    continue
                averages[r] = _moving_average(averages[r], loss)
                value = averages[r] / (1.0 - SMOOTHING**step)
                recorded[r].append(loss)
                smoothed[r].append(value)
                best[r] = min(best[r], value)
                if not math.isfinite(value) or value > DIVERGENCE * best[r]:
                    stopped[r] = True
    found = {}
    for r, index in enumerate(order):
        count = len(recorded[r])
        found[index] = LrRange(
            configs[index],
            tuple(ramp[:count]),
            tuple(recorded[r]),
            tuple(smoothed[r]),
            stopped[r],
        )
    return [found[i] for i in range(k)]
