"""The reference engine: the plain PyTorch training loop, the ground truth for every fast path.

It does what the exercise's ``train_valid`` does, written out in Python: batches in dataset
order (seeded shuffling on request), MSE loss (cross-entropy for a classification set),
``opt.zero_grad(); loss.backward(); opt.step()`` per batch, validation after every epoch.
Any ``nn.Module`` factory and any ``torch.optim`` optimizer can be plugged in. The config's lr
schedule is torch's own scheduler on that optimizer (see
:func:`optiscope.optim.make_torch_scheduler`), stepped after each optimizer step or after each
epoch, as torch's docs step it.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from optiscope.data import Dataset, make_dataset
from optiscope.engine._checkpoint import Checkpoint, CheckpointPolicy, skip_epochs, to_numpy
from optiscope.engine._metrics import evaluate
from optiscope.engine._validate import validate_config
from optiscope.models import build_mlp
from optiscope.optim import get_optimizer, make_torch_scheduler
from optiscope.records import Curve, RunConfig, RunRecord

__all__ = ["EpochCallback", "train_reference"]

ModelFactory = Callable[[], nn.Module]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
EpochCallback = Callable[[int, float, float], None]

ENGINE = "reference"
"""This engine's name, on its records and checkpoints."""


def train_reference(
    config: RunConfig,
    data: Dataset | None = None,
    *,
    model_factory: ModelFactory | None = None,
    optimizer_factory: OptimizerFactory | None = None,
    device: str | torch.device = "cpu",
    on_epoch: EpochCallback | None = None,
    validate: bool = True,
    resume: Checkpoint | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    checkpoints: CheckpointPolicy | None = None,
) -> RunRecord:
    """Train one config with the plain PyTorch loop.

    Args:
        config: the run's settings (validated first).
        data: the data set; ``None`` builds ``config.data``.
        model_factory: builds the network; default: :func:`optiscope.models.build_mlp`
            with ``config.hidden``, ``config.activation`` and ``config.seed``.
        optimizer_factory: builds the optimizer from the parameters; default: the registered
            optimizer's ``torch.optim`` class with ``config.hparams``. ``config.schedule``
            schedules its lr either way.
        device: where to train.
        on_epoch: called as ``on_epoch(epoch, valid_loss, train_loss)`` after each epoch.
        resume: a checkpoint of this engine to go on from (the model's ``state_dict`` and
            the optimizer's state after its epoch, see :mod:`optiscope.engine._checkpoint`).
        on_checkpoint: called at the end of an epoch, when ``checkpoints`` says one is due,
            with the run's :class:`Checkpoint` (never after the last epoch).
        checkpoints: when to take checkpoints (default: :class:`CheckpointPolicy`).
        validate: check the config first; ``False`` only for a config already checked (a
            sweep's plan checks each config once).

    Returns:
        The run's record. A run whose training or validation loss becomes NaN or inf stops at
        that epoch with status ``diverged``.

    Raises:
        ConfigError: when the config is invalid (nothing is trained).
        ValueError: when ``resume`` does not fit this config's model and optimizer.
    """
    if validate:
        validate_config(config)
    data = data if data is not None else make_dataset(config.data)
    model: nn.Module
    if model_factory is None:
        model = build_mlp(
            data.n_features,
            config.hidden,
            config.activation,
            config.seed,
            out_features=data.n_outputs,
        )
    else:
        model = model_factory()
    model = model.to(device)
    if optimizer_factory is None:
        info = get_optimizer(config.optimizer)
        optimizer = info.make_torch(model.parameters(), info.complete(config.hparam_dict))
    else:
        optimizer = optimizer_factory(model.parameters())

    X_train, y_train = data.X_train.to(device), data.y_train.to(device)  # (N, F), (N, 1)
    X_valid, y_valid = data.X_valid.to(device), data.y_valid.to(device)
    order = _epoch_orders(config, data.n_train)
    # Regression: MSE on (B, 1) targets; classification: cross-entropy of (B, C) logits
    # against (B,) labels, what nn.CrossEntropyLoss() computes.
    loss_of = F.cross_entropy if data.n_classes else F.mse_loss
    steps_per_epoch = -(-data.n_train // config.batch_size)
    scheduler = make_torch_scheduler(
        config.schedule, optimizer, steps_per_epoch=steps_per_epoch, epochs=config.epochs
    )
    per_step = config.schedule.per_step

    columns: dict[str, list[float]] = {name: [] for name in Curve.__dataclass_fields__}
    status, diverged_epoch = "done", None
    steps = samples = trained = 0
    before = 0.0  # seconds trained before this call
    if resume is not None:
        trained = _restore(resume, model, optimizer, config.epochs)
        for name, values in columns.items():
            values.extend(getattr(resume.curve, name))
        steps, samples, before = (
            resume.curve.step[-1],
            resume.curve.samples[-1],
            resume.curve.seconds[-1],
        )
        skip_epochs(order, trained)  # the same permutations from here on
        if scheduler is not None:  # the scheduler's own steps replayed: the same floats
            with warnings.catch_warnings():  # (torch warns: no optimizer step came first)
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(trained * steps_per_epoch if per_step else trained):
                    scheduler.step()
    clock = (checkpoints or CheckpointPolicy()).clock()
    start = time.perf_counter()
    for epoch in range(trained + 1, config.epochs + 1):
        model.train()
        indices = next(order)
        losses: list[float] = []
        for first in range(0, data.n_train, config.batch_size):
            stop = first + config.batch_size
            batch = slice(first, stop) if indices is None else indices[first:stop]
            xb, yb = X_train[batch], y_train[batch]  # (B, F), (B, 1) or (B,)
            optimizer.zero_grad()
            loss = loss_of(model(xb), yb)
            loss.backward()
            lr = float(optimizer.param_groups[0]["lr"])  # what this step uses
            optimizer.step()
            if scheduler is not None and per_step:
                scheduler.step()
            losses.append(float(loss.item()))
            steps += 1
            samples += int(xb.shape[0])
        if scheduler is not None and not per_step:
            scheduler.step()
        train_loss = sum(losses) / len(losses)
        valid_loss = evaluate(model, X_valid, y_valid, config.metric, config.batch_size)
        seconds = before + time.perf_counter() - start
        for name, value in zip(
            ("epoch", "step", "samples", "seconds", "valid_loss", "train_loss", "lr"),
            (epoch, steps, samples, seconds, valid_loss, train_loss, lr),
            strict=True,
        ):
            columns[name].append(value)
        if on_epoch is not None:
            on_epoch(epoch, valid_loss, train_loss)
        if not (math.isfinite(valid_loss) and math.isfinite(train_loss)):
            status, diverged_epoch = "diverged", epoch
            break
        if on_checkpoint is not None and epoch < config.epochs and clock.due():
            taking = time.perf_counter()
            on_checkpoint(_checkpoint(model, optimizer, epoch, _curve(columns)))
            clock.taken(taking)
    return RunRecord(
        config=config,
        curve=_curve(columns),
        status=status,  # type: ignore[arg-type]
        diverged_epoch=diverged_epoch,
        engine=ENGINE,
    )


def _curve(columns: dict[str, list[float]]) -> Curve:
    values = {name: tuple(values) for name, values in columns.items()}
    if len(values["lr"]) != len(values["epoch"]):  # resumed from a checkpoint without lrs
        values["lr"] = ()
    return Curve(**values)  # type: ignore[arg-type]


def _checkpoint(
    model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, curve: Curve
) -> Checkpoint:
    """The model's ``state_dict`` as ``model.NAME`` and the optimizer's per-parameter state
    as ``optim.INDEX.NAME`` (tensors among the arrays, numbers among the scalars)."""
    arrays = {f"model.{name}": to_numpy(t) for name, t in model.state_dict().items()}
    scalars: dict[str, bool | int | float] = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            if isinstance(value, Tensor):
                arrays[f"optim.{index}.{name}"] = to_numpy(value)
            else:
                scalars[f"optim.{index}.{name}"] = value
    return Checkpoint(engine=ENGINE, epoch=epoch, curve=curve, arrays=arrays, scalars=scalars)


def _restore(
    checkpoint: Checkpoint, model: nn.Module, optimizer: torch.optim.Optimizer, epochs: int
) -> int:
    """Load a checkpoint into a fresh model and optimizer; returns its epoch."""
    if checkpoint.engine != ENGINE or not 0 < checkpoint.epoch < epochs:
        raise ValueError(
            f"a {checkpoint.engine} checkpoint of epoch {checkpoint.epoch} cannot resume a "
            f"{ENGINE} run of {epochs} epochs"
        )
    weights: dict[str, Tensor] = {}
    state: dict[int, dict[str, Any]] = {}
    for name, array in checkpoint.arrays.items():
        kind, _, rest = name.partition(".")
        value = torch.from_numpy(array.copy())
        if kind == "model":
            weights[rest] = value
        else:
            index, _, key = rest.partition(".")
            state.setdefault(int(index), {})[key] = value
    for name, number in checkpoint.scalars.items():
        index, _, key = name.removeprefix("optim.").partition(".")
        state.setdefault(int(index), {})[key] = number
    try:
        model.load_state_dict(weights)
        groups = optimizer.state_dict()["param_groups"]
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"the checkpoint does not fit this model and optimizer: {err}") from err
    return checkpoint.epoch


def _epoch_orders(config: RunConfig, n: int) -> Iterator[Tensor | None]:
    """Yield each epoch's sample order: ``None`` for dataset order, else a seeded permutation."""
    if not config.shuffle:
        while True:
            yield None
    generator = torch.Generator().manual_seed(config.seed)
    while True:
        yield torch.randperm(n, generator=generator)
