"""The vectorized engine: K configs that can train in lockstep, as one stacked model.

Configs train in lockstep when they share the optimizer, batch size, epochs, network shape,
data and shuffling (:func:`lockstep_key`); their seeds and hyperparameters may differ. Their K
networks are stacked (parameters ``(K, ...)``, see :mod:`optiscope.models._stacked`), each
step runs the forward, backward and optimizer update of all K at once, and every number equals
what :func:`optiscope.engine.train_reference` computes for each config alone: the same batches
in the same order, the same float32 operations (see :mod:`optiscope.engine._stacked_net` and
the optimizers' vectorized updates), the same per-batch losses summed as Python floats.
Configs may differ in their lr schedule: each config's lr of every step is computed as torch's
scheduler sets it (:func:`optiscope.optim.scheduled_lrs`) and read by the update at each step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch
from torch import Tensor

from optiscope.data import Dataset, make_dataset
from optiscope.engine._batch_losses import batched_mse
from optiscope.engine._checkpoint import (
    Checkpoint,
    CheckpointCallback,
    CheckpointPolicy,
    optimizer_rows,
    restore_optimizer_rows,
    to_numpy,
)
from optiscope.engine._exact import InexactError, save_choices
from optiscope.engine._stacked_net import StackedMLP, element_offset
from optiscope.engine._threads import one_intra_op_thread
from optiscope.engine._validate import validate_config
from optiscope.engine._whole_forward import whole_forward_is_exact
from optiscope.errors import ConfigError
from optiscope.models import StackedLayout, stack_mlps, unstack_mlp
from optiscope.optim import StepLrs, get_optimizer, lr_at, matches_reference, scheduled_lrs
from optiscope.records import Curve, RunConfig, RunRecord

__all__ = ["VectorizedTrainer", "lockstep_key", "train_vectorized"]

GroupEpochCallback = Callable[[int, Sequence[RunRecord | None]], None]

ENGINE = "vectorized"
"""This engine's name, on its records and checkpoints."""


def lockstep_key(config: RunConfig) -> Hashable | None:
    """What configs must share to train as one stacked model; ``None`` if ``config`` cannot.

    A config cannot when its optimizer has no vectorized update (``info.vectorizable``).
    """
    if not get_optimizer(config.optimizer).vectorizable:
        return None
    return (
        config.optimizer,
        config.batch_size,
        config.epochs,
        config.hidden,
        config.activation,
        config.data,
        config.shuffle,
    )


class VectorizedTrainer:
    """Trains K lockstep configs as one stacked model.

    Args:
        configs: the configs (validated here); all must have the same :func:`lockstep_key`.
        data: the data set; ``None`` builds ``configs[0].data``.
        device: where to train.
        resume: one checkpoint per config, all of one epoch, written by this engine: training
            goes on from there (see :mod:`optiscope.engine._checkpoint`).

    Raises:
        ConfigError: for an invalid config, or configs that cannot train in lockstep.
        InexactError: when the optimizer's vectorized update does not reproduce
            ``torch.optim`` on this device (see :func:`optiscope.optim.matches_reference`).
        ValueError: when the checkpoints do not fit these configs.
    """

    def __init__(
        self,
        configs: Sequence[RunConfig],
        data: Dataset | None = None,
        *,
        device: str | torch.device = "cpu",
        validate: bool = True,
        resume: Sequence[Checkpoint] | None = None,
    ) -> None:
        if not configs:
            raise ConfigError("no configs to train; pass at least one RunConfig.")
        for number, config in enumerate(configs, start=1):
            if validate:  # (a sweep's configs were checked once, by its plan)
                validate_config(config, where=f"config {number} of {len(configs)}: ")
        keys = {lockstep_key(c) for c in configs}
        if None in keys:
            raise ConfigError(
                f"optimizer {configs[0].optimizer!r} has no vectorized update; "
                "train it with engine='reference'."
            )
        if len(keys) > 1:
            raise ConfigError(
                "these configs cannot train in lockstep: they differ in optimizer, batch size, "
                "epochs, network, data or shuffling. Group them with lockstep_key() first."
            )
        self.configs = list(configs)
        self.device = torch.device(device)
        self.data = data if data is not None else make_dataset(configs[0].data)
        first = configs[0]
        self.params, self.layout = stack_mlps(
            self.data.n_features,
            first.hidden,
            first.activation,
            [c.seed for c in configs],
            device=self.device,
            out_features=self.data.n_outputs,
        )  # (K, row)
        self.grads = torch.zeros_like(self.params)  # (K, row)
        self.info = get_optimizer(first.optimizer)
        assert self.info.init_state is not None and self.info.step is not None
        hparams = [self.info.complete(c.hparam_dict) for c in configs]  # (checked above)
        steps_per_epoch = -(-self.data.n_train // first.batch_size)
        schedules: dict[tuple[Any, float], StepLrs] = {}  # configs that share one, share it
        for config, values in zip(configs, hparams, strict=True):
            if config.schedule.name != "constant":
                key = (config.schedule, values["lr"])
                if key not in schedules:
                    schedules[key] = StepLrs(
                        scheduled_lrs(
                            config.schedule,
                            values["lr"],
                            steps_per_epoch=steps_per_epoch,
                            epochs=first.epochs,
                        )
                    )
                values["lr"] = schedules[key]
        self.lrs = [values["lr"] for values in hparams]  # float or StepLrs, per config
        if not matches_reference(self.info, hparams, self.device):
            raise InexactError(
                f"{self.info.title}'s vectorized update does not reproduce torch.optim on "
                f"{self.device} for these configs; they train with the reference engine."
            )
        self.state = self.info.init_state([self.params], hparams)
        self.resume = list(resume) if resume is not None else None
        if self.resume is not None:
            self._restore(self.resume)

    def _restore(self, checkpoints: Sequence[Checkpoint]) -> None:
        epochs = {c.epoch for c in checkpoints}
        engines = {c.engine for c in checkpoints}
        if len(checkpoints) != self.k or len(epochs) != 1 or engines != {ENGINE}:
            raise ValueError(
                f"resuming {self.k} configs needs one {ENGINE} checkpoint each, all of one "
                f"epoch; got {len(checkpoints)} of epochs {sorted(epochs)} by {sorted(engines)}"
            )
        if not 0 < checkpoints[0].epoch < self.configs[0].epochs:
            raise ValueError(
                f"checkpoint of epoch {checkpoints[0].epoch}; these configs train "
                f"{self.configs[0].epochs} epochs"
            )
        for k, checkpoint in enumerate(checkpoints):
            row = checkpoint.arrays.get("params")
            if row is None or row.shape != (self.layout.row,):
                raise ValueError(f"checkpoint {k} has no parameter row of {self.layout.row}")
            self.params[k].copy_(torch.from_numpy(row.copy()))
        restore_optimizer_rows(self.state, dict(enumerate(checkpoints)), [self.params])

    def checkpoint(self, k: int, epoch: int, curve: Curve) -> Checkpoint:
        """Config ``k``'s state now, after ``epoch`` epochs with this ``curve``."""
        arrays, scalars = optimizer_rows(self.state, k)
        return Checkpoint(
            engine=ENGINE,
            epoch=epoch,
            curve=curve,
            arrays={"params": to_numpy(self.params[k]), **arrays},
            scalars=scalars,
        )

    @property
    def k(self) -> int:
        return len(self.configs)

    def state_dicts(self) -> list[dict[str, Tensor]]:
        """Each config's current parameters as a ``state_dict`` of ``build_mlp``'s model."""
        return [unstack_mlp(self.params, self.layout, k) for k in range(self.k)]

    def run(
        self,
        *,
        on_epoch: GroupEpochCallback | None = None,
        on_checkpoint: CheckpointCallback | None = None,
        checkpoints: CheckpointPolicy | None = None,
    ) -> list[RunRecord]:
        """Train every epoch and return one record per config, in order.

        A config whose training or validation loss becomes NaN or inf stops being recorded at
        that epoch (status ``diverged``), as in the reference engine; the others go on.
        Each curve's ``seconds`` is the group's elapsed time: K configs share every step.

        Trains with one intra-op thread (see :mod:`optiscope.engine._threads`), restoring
        the setting after.

        Args:
            on_epoch: called after each epoch with the epoch and, per config, its finished
                record (``None`` while it is still training).
            on_checkpoint: called at the end of an epoch, when ``checkpoints`` says one is
                due, with the :class:`Checkpoint` of each config still training, by index.
            checkpoints: when to take checkpoints (default: :class:`CheckpointPolicy`).
        """
        with one_intra_op_thread():
            try:
                return self._run(on_epoch, on_checkpoint, checkpoints or CheckpointPolicy())
            finally:
                save_choices()  # what this machine was found to do, for later processes

    def _run(
        self,
        on_epoch: GroupEpochCallback | None,
        on_checkpoint: CheckpointCallback | None,
        policy: CheckpointPolicy,
    ) -> list[RunRecord]:
        config = self.configs[0]
        data, device, k = self.data, self.device, self.k
        X_train, y_train = data.X_train.to(device), data.y_train.to(device)  # (N, F), (N, 1)
        X_valid, y_valid = data.X_valid.to(device), data.y_valid.to(device)
        n, batch_size = data.n_train, config.batch_size
        starts = list(range(0, n, batch_size))
        nets = _Nets(
            self.layout,
            config.activation,
            self.params,
            self.grads,
            config.epochs,
            classes=data.n_classes,
        )
        losses = torch.empty(len(starts), k, device=device)  # (batches, K): each step's loss
        orders = _Orders(self.configs, n) if config.shuffle else None
        if orders is not None:
            sizes = [min(first + batch_size, n) - first for first in starts]
            shuffled = [nets.train(rows, None, per_epoch=sizes.count(rows)) for rows in sizes]
            plans = [
                net.plan(net.x, net.y, losses[j])  # type: ignore[arg-type]
                for j, net in enumerate(shuffled)
            ]
        else:
            plans = nets.plans(X_train, y_train, batch_size, losses, train=True)
        evaluate = _Evaluation(nets, X_valid, y_valid, batch_size, {c.metric for c in self.configs})
        step = self.info.step
        assert step is not None

        columns: list[dict[str, list[float]]] = [
            {name: [] for name in Curve.__dataclass_fields__} for _ in range(k)
        ]
        trained, before = 0, [0.0] * k  # epochs and seconds before this call
        if self.resume is not None:
            trained = self.resume[0].epoch
            for row, checkpoint in zip(columns, self.resume, strict=True):
                for name, values in row.items():
                    values.extend(getattr(checkpoint.curve, name))
            before = [c.curve.seconds[-1] for c in self.resume]
            for _ in range(trained if orders is not None else 0):
                orders.next_epoch(device)  # type: ignore[union-attr]  # the same draws
        finished: list[RunRecord | None] = [None] * k
        clock = policy.clock()
        start = time.perf_counter()
        for epoch in range(trained + 1, config.epochs + 1):
            order = orders.next_epoch(device) if orders is not None else None  # (K, N)
            for j, plan in enumerate(plans):
                if order is not None:
                    net, first = shuffled[j], starts[j]
                    picked = order[:, first : first + batch_size]  # (K, B)
                    net.x.copy_(X_train[picked])  # type: ignore[union-attr]  # (K, B, F)
                    net.y.copy_(y_train[picked])  # type: ignore[union-attr]  # (K, B, 1) / (K, B)
                plan()
                step([self.params], [self.grads], self.state)
            per_batch = losses.T.tolist()  # (K, batches) as Python floats
            valid = evaluate()
            seconds = time.perf_counter() - start
            for i, c in enumerate(self.configs):
                if finished[i] is not None:
                    continue
                train_loss = sum(per_batch[i]) / len(per_batch[i])
                valid_loss = valid[c.metric][i]
                row = columns[i]
                row["epoch"].append(epoch)
                row["step"].append(epoch * len(starts))
                row["samples"].append(epoch * n)
                row["seconds"].append(before[i] + seconds)
                row["valid_loss"].append(valid_loss)
                row["train_loss"].append(train_loss)
                row["lr"].append(lr_at(self.lrs[i], epoch * len(starts)))  # its last step's
                if not (math.isfinite(valid_loss) and math.isfinite(train_loss)):
                    finished[i] = _record(c, row, "diverged", epoch)
                elif epoch == config.epochs:
                    finished[i] = _record(c, row, "done", None)
            if on_epoch is not None:
                on_epoch(epoch, list(finished))
            if all(r is not None for r in finished):
                break
            if on_checkpoint is not None and clock.due():
                taking = time.perf_counter()
                on_checkpoint(
                    {
                        i: self.checkpoint(i, epoch, _curve(row))
                        for i, row in enumerate(columns)
                        if finished[i] is None
                    }
                )
                clock.taken(taking)
        return [r for r in finished if r is not None]


def train_vectorized(
    configs: Sequence[RunConfig],
    data: Dataset | None = None,
    *,
    device: str | torch.device = "cpu",
    on_epoch: GroupEpochCallback | None = None,
    validate: bool = True,
    resume: Sequence[Checkpoint] | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    checkpoints: CheckpointPolicy | None = None,
) -> list[RunRecord]:
    """Train lockstep configs as one stacked model; the reference engine's numbers, faster.

    Args:
        configs: configs with one :func:`lockstep_key` (seeds and hyperparameters may differ).
        data: the data set; ``None`` builds ``configs[0].data``.
        device: where to train.
        on_epoch, on_checkpoint, checkpoints: see :meth:`VectorizedTrainer.run`.
        validate: check the configs first; ``False`` only for configs already checked (a
            sweep's plan checks each config once).
        resume: one checkpoint per config, all of one epoch, to go on from.

    Returns:
        One record per config, in order, with ``engine="vectorized"``. A curve's ``seconds``
        is the group's elapsed time.

    Raises:
        ConfigError: for invalid configs or configs that cannot train in lockstep.
        InexactError: when this machine cannot reproduce the plain model's numbers in stacked
            form (the sweep layer then uses the reference engine).
        ValueError: when the checkpoints do not fit these configs.
    """
    trainer = VectorizedTrainer(configs, data, device=device, validate=validate, resume=resume)
    return trainer.run(on_epoch=on_epoch, on_checkpoint=on_checkpoint, checkpoints=checkpoints)


def _curve(row: dict[str, list[float]]) -> Curve:
    values = {name: tuple(values) for name, values in row.items()}
    if len(values["lr"]) != len(values["epoch"]):  # resumed from a checkpoint without lrs
        values["lr"] = ()
    return Curve(**values)  # type: ignore[arg-type]


def _record(
    config: RunConfig, row: dict[str, list[float]], status: str, epoch: int | None
) -> RunRecord:
    return RunRecord(
        config=config,
        curve=_curve(row),
        status=status,  # type: ignore[arg-type]
        diverged_epoch=epoch,
        engine=ENGINE,
    )


class _Nets:
    """One :class:`StackedMLP` per batch size and purpose, built (and checked) on first use."""

    def __init__(
        self,
        layout: StackedLayout,
        activation: str,
        params: Tensor,
        grads: Tensor,
        epochs: int,
        *,
        classes: int = 0,
    ):
        self.layout, self.activation, self.epochs = layout, activation, epochs
        self.classes = classes
        self.params, self.grads = layout.views(params), layout.views(grads)
        self._nets: dict[tuple[int, bool, tuple[int, ...] | None], StackedMLP] = {}

    def get(
        self, rows: int, train: bool, offsets: Sequence[int] | None, *, per_epoch: int
    ) -> StackedMLP:
        """The network for batches of ``rows`` (built on first use), whose plans run
        ``per_epoch`` times an epoch, reading data slices that start at ``offsets`` (see
        :func:`element_offset`; ``None``: its own batch buffers; empty: no data, for
        :meth:`loss_plans`)."""
        key = (rows, train, None if offsets is None else tuple(sorted(set(offsets))))
        net = self._nets.get(key)
        if net is None:
            net = StackedMLP(
                self.layout,
                self.activation,
                self.params,
                self.grads if train else None,
                rows,
                data_offsets=offsets,
                uses=per_epoch * self.epochs,
                classes=self.classes,
            )
            self._nets[key] = net
        return net

    def train(self, rows: int, offsets: Sequence[int] | None, *, per_epoch: int) -> StackedMLP:
        return self.get(rows, True, offsets, per_epoch=per_epoch)

    def plans(
        self,
        X: Tensor,
        y: Tensor,
        batch_size: int,
        losses: Tensor | None,
        *,
        train: bool,
        collect: Tensor | None = None,
    ) -> list[Callable[[], None]]:
        """A bound step per batch of ``X`` in order; batch ``j``'s loss goes to ``losses[j]``
        (or, with ``collect``, ``(K, N, 1)``, its outputs to their rows of it)."""
        n = int(X.shape[0])
        starts = range(0, n, batch_size)
        offsets: dict[int, list[int]] = {}  # by batch size: where its slices start
        for first in starts:
            rows = min(first + batch_size, n) - first
            offsets.setdefault(rows, []).append(element_offset(X[first:]))
        plans = []
        for j, first in enumerate(starts):
            stop = min(first + batch_size, n)
            rows = stop - first
            net = self.get(rows, train, offsets[rows], per_epoch=len(offsets[rows]))
            loss = None if losses is None else losses[j]
            rows_out = None if collect is None else collect[:, first:stop]  # (K, B, 1)
            plans.append(net.plan(X[first:stop], y[first:stop], loss, collect=rows_out))
        return plans

    def loss_plans(
        self, outputs: Tensor, y: Tensor, batch_size: int, losses: Tensor
    ) -> list[Callable[[], None]]:
        """Each batch's loss of outputs computed elsewhere, ``(K, N, 1)``, into ``losses[j]``,
        by the networks :meth:`plans` uses for these batches (their loss, their buffers)."""
        n = int(y.shape[0])
        starts = range(0, n, batch_size)
        sizes = [min(first + batch_size, n) - first for first in starts]
        plans = []
        for j, (first, rows) in enumerate(zip(starts, sizes, strict=True)):
            net = self.get(rows, False, [], per_epoch=sizes.count(rows))
            stop = first + rows
            plans.append(net.loss_plan(outputs[:, first:stop], y[first:stop], losses[j]))
        return plans

    def whole(self, X: Tensor, y: Tensor, losses: Tensor) -> tuple[Callable[[], None], Tensor]:
        """A forward-only step over all of ``X`` (one batch) and its outputs ``(K, N, out)``."""
        plan = self.plans(X, y, int(X.shape[0]), losses, train=False)[0]
        net = self.get(int(X.shape[0]), False, [element_offset(X)], per_epoch=1)
        return plan, net.a[-1]


class _Evaluation:
    """Each config's validation loss under each metric the group asks for.

    ``rmse``: ``sqrt(mse_loss(model(X), y))`` over the whole set; ``batch_rmse``: the Python
    mean of that over batches of ``batch_size`` rows; ``log_loss``: the cross-entropy over
    the whole set; ``accuracy``: correct rows / rows, all as
    :func:`optiscope.engine.evaluate` computes them.
    """

    def __init__(self, nets: _Nets, X: Tensor, y: Tensor, batch_size: int, metrics: set[str]):
        k, n = int(nets.params[0].shape[0]), int(X.shape[0])
        self.y, self.n = y, n
        # by metric: the calls, and where they leave the losses, (batches, K) or (K, batches)
        self.plans: dict[str, tuple[list[Callable[[], object]], Tensor]] = {}
        for metric, rows in (("rmse", n), ("batch_rmse", batch_size)):
            if metric not in metrics:
                continue
            batches = -(-n // rows)
            if metric == "batch_rmse" and batches > 1 and not nets.classes:
                self.plans[metric] = _batch_rmse_plans(nets, X, y, rows)
                continue
            losses = torch.empty(batches, k, device=X.device)  # (batches, K)
            self.plans[metric] = ([*nets.plans(X, y, rows, losses, train=False)], losses)
        self.classifying = bool(metrics & {"log_loss", "accuracy"})
        if self.classifying:
            self.log_loss = torch.empty(1, k, device=X.device)  # (1, K)
            self.whole, self.logits = nets.whole(X, y, self.log_loss)  # _, (K, N, C)

    def __call__(self) -> dict[str, list[float]]:
        out = {}
        for metric, (plans, losses) in self.plans.items():
            for plan in plans:
                plan()
            per_batch = torch.sqrt(losses).T.tolist()  # (K, batches)
            out[metric] = [sum(values) / len(values) for values in per_batch]
        if self.classifying:
            self.whole()
            out["log_loss"] = self.log_loss[0].tolist()
            correct = (self.logits.argmax(dim=-1) == self.y).sum(dim=1)  # (K,)
            out["accuracy"] = [c / self.n for c in correct.tolist()]
        return out


def _batch_rmse_plans(
    nets: _Nets, X: Tensor, y: Tensor, rows: int
) -> tuple[list[Callable[[], object]], Tensor]:
    """``batch_rmse``'s calls for a regressor, and where they leave the losses (a
    ``(batches, K)`` view): the forward over the whole set at once where that gives each
    batch's bits (:mod:`optiscope.engine._whole_forward`), else batch by batch; the losses of
    all batches at once where that is exact and pays (:mod:`optiscope.engine._batch_losses`),
    else batch by batch."""
    k, n = int(nets.params[0].shape[0]), int(X.shape[0])
    batches = -(-n // rows)
    collected = torch.empty(k, n, 1, device=X.device)  # (K, N, 1): every batch's outputs
    by_config = torch.empty(k, batches, device=X.device)  # (K, batches)
    key = (element_offset(y), str(X.device))
    losses_of = batched_mse(key, collected, y, rows, by_config, uses=batches * nets.epochs)
    if whole_forward_is_exact(nets.layout, nets.activation, X, rows, epochs=nets.epochs):
        forward = nets.plans(X, y, n, None, train=False, collect=collected)
    elif losses_of is not None:
        forward = nets.plans(X, y, rows, None, train=False, collect=collected)
    else:
        losses = torch.empty(batches, k, device=X.device)  # (batches, K)
        return [*nets.plans(X, y, rows, losses, train=False)], losses
    if losses_of is not None:
        return [*forward, losses_of], by_config.T
    losses = torch.empty(batches, k, device=X.device)
    return [*forward, *nets.loss_plans(collected, y, rows, losses)], losses


class _Orders:
    """Each config's shuffled order, drawn as the reference engine draws it.

    Config ``k`` has its own ``torch.Generator`` seeded with its seed, and each epoch takes
    ``torch.randperm(n)`` from it; configs sharing a seed share the permutation.
    """

    def __init__(self, configs: Sequence[RunConfig], n: int) -> None:
        self.n = n
        self.seeds = [c.seed for c in configs]
        self.generators = {s: torch.Generator().manual_seed(s) for s in set(self.seeds)}

    def next_epoch(self, device: torch.device) -> Tensor:
        drawn = {s: torch.randperm(self.n, generator=g) for s, g in self.generators.items()}
        return torch.stack([drawn[s] for s in self.seeds]).to(device)  # (K, N)
