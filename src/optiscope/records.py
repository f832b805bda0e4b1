"""Plain values that describe runs and their results: no tensors, JSON round-trippable.

A :class:`RunConfig` says everything that changes a training result; its :meth:`RunConfig.key`
is a stable hash used to skip work that is already stored. A :class:`RunRecord` is what one
training run produced: the config, a :class:`Curve` per epoch and a status.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from optiscope.settings import SCHEDULES, default

__all__ = [
    "RESULTS_VERSION",
    "STATUSES",
    "Curve",
    "DataSpec",
    "RunConfig",
    "RunRecord",
    "ScheduleSpec",
    "Status",
    "Trajectory",
]

# Bump when a change to optiscope changes the numbers a config produces: it is part of every
# config key, so stored results from before the change are not reused by mistake.
RESULTS_VERSION = 1

Status = Literal["done", "diverged", "error"]
STATUSES: tuple[str, ...] = ("done", "diverged", "error")

HParam = float | int | bool | str | tuple[float, ...]


def _freeze(value: Any) -> Any:
    """Turn lists into tuples (recursively) so a value can live in a frozen, hashable record."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _nan_to_none(values: Sequence[float]) -> list[float | None]:
    return [None if (v is None or math.isnan(v)) else float(v) for v in values]


def _none_to_nan(values: Sequence[float | None]) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in values)


@dataclass(frozen=True)
class DataSpec:
    """Which data set a run trains on, and how it is split.

    Attributes:
        name: a generator from :mod:`optiscope.data` (the regression sets ``friedman1``,
            ``friedman2``, ``friedman3``, ``peak``; the classification sets ``spirals``,
            ``circle``, ``xor``, ``twonorm``, ``threenorm``, ``ringnorm``, ``cassini``,
            ``2dnormals``, ``smiley``, ``hypercube``, ``shapes``), or ``"custom"`` for arrays
            the user passed.
        n: number of samples generated (train and validation together).
        sd: standard deviation of the Gaussian noise added to the target; ``None`` means the
            generator's own default (friedman1: 1, friedman2: 125, friedman3: 0.1, peak: 0),
            filled in by :func:`optiscope.data.resolve_data_spec` before a config is stored.
        seed: seed of the generator and of the train/validation split.
        train_fraction: share of the samples used for training (the exercise: 700 of 1000).
        standardize: scale features and target to zero mean and unit variance using training
            statistics (the exercise feeds raw features, so this is off by default).
        fingerprint: for ``name="custom"``, a hash of the arrays, so stored results are only
            reused for the same data.
        d: the dimension (mlbench's ``d``) of a set that takes one (``circle``, ``xor``,
            ``twonorm``, ``threenorm``, ``ringnorm``, ``hypercube``, ``peak``); ``None`` means
            the generator's own. :func:`optiscope.data.resolve_data_spec` stores the
            generator's own dimension as ``None``, so one data set has one value and one key,
            and :meth:`to_dict` leaves a ``None`` out (keys of results stored before ``d``
            existed hold).
    """

    name: str = default("dataset")
    n: int = default("n")
    sd: float | None = default("noise")
    seed: int = default("data_seed")
    train_fraction: float = default("train_fraction")
    standardize: bool = default("standardize")
    fingerprint: str | None = None
    d: int | None = default("d")

    @property
    def label(self) -> str:
        if self.name == "custom":
            return "custom data"
        noise = "default" if self.sd is None else f"{self.sd:g}"
        dimension = "" if self.d is None else f", d={self.d}"
        return f"{self.name} (n={self.n}, sd={noise}{dimension})"

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["d"] is None:  # (keys from before dimensions existed stay valid)
            del out["d"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        return cls(**dict(data))


@dataclass(frozen=True)
class ScheduleSpec:
    """An lr schedule: one of ``torch.optim.lr_scheduler``'s, with its settings.

    The config's ``lr`` is the schedule's base lr (OneCycle's peak). Settings another schedule
    takes are kept at their defaults (so equal schedules are equal values with one key); see
    :data:`optiscope.settings.SCHEDULES` for which schedule takes which and whether it steps
    per epoch or per optimizer step.

    Attributes:
        name: ``constant``, ``step``, ``multistep``, ``exponential``, ``cosine``, ``linear``
            or ``onecycle``.
        warmup: cosine, linear: optimizer steps of linear warmup before the decay.
        warmup_start: cosine, linear: the warmup's first lr factor (``LinearLR``'s
            ``start_factor``).
        step_size: step: epochs between decays.
        gamma: step, multistep, exponential: the factor of each decay.
        milestones: multistep: the epochs at which lr decays.
        eta_min: cosine: the lr it anneals to.
        pct_start, div_factor, final_div_factor: onecycle, as ``OneCycleLR`` takes them.
    """

    name: str = default("schedule")
    warmup: int = default("warmup")
    warmup_start: float = default("warmup_start")
    step_size: int = default("step_size")
    gamma: float = default("gamma")
    milestones: tuple[int, ...] = default("milestones")
    eta_min: float = default("eta_min")
    pct_start: float = default("pct_start")
    div_factor: float = default("div_factor")
    final_div_factor: float = default("final_div_factor")

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))
        taken = SCHEDULES[self.name][0] if self.name in SCHEDULES else ()
        for f in fields(self):
            if f.name != "name" and f.name not in taken:
                object.__setattr__(self, f.name, f.default)

    @property
    def settings(self) -> dict[str, Any]:
        """The settings this schedule takes, by name."""
        taken = SCHEDULES[self.name][0] if self.name in SCHEDULES else ()
        return {name: getattr(self, name) for name in taken}

    @property
    def per_step(self) -> bool:
        """Whether it steps once per optimizer step (else once per epoch)."""
        return SCHEDULES.get(self.name, ((), "epoch"))[1] == "step"

    @property
    def label(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.settings.items())
        return f"{self.name} ({shown})" if shown else self.name

    def to_dict(self) -> dict[str, Any]:
        """The name and the settings it takes (JSON-ready)."""
        return {
            "name": self.name,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduleSpec:
        return cls(**dict(data))


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's numbers.

    Hyperparameters use ``torch.optim``'s names (``lr``, ``betas``, ``weight_decay``, ``eps``,
    ``momentum``, ...). They are stored as a sorted tuple of pairs so the config is hashable;
    pass a dict, read them back with :attr:`hparam_dict`.

    Attributes:
        optimizer: registered optimizer name (``adamw``, ``adam``, ``sgd``, ``rmsprop``,
            ``adagrad``, ``nadam``, ``radam``, ``adamax``).
        hparams: the optimizer's hyperparameters, complete (defaults filled in).
        batch_size: training batch size.
        epochs: number of passes over the training set.
        seed: ``torch.manual_seed`` before the model is built (and of the shuffling order).
        hidden: widths of the hidden layers of the MLP.
        activation: activation between layers (``relu``, ``tanh``, ``gelu``, ``sigmoid``).
        data: the data set and split.
        metric: ``rmse`` (true RMSE on the whole validation set) or ``batch_rmse`` (the
            exercise's mean of per-batch RMSEs, validation batch size = training batch size)
            for regression; ``log_loss`` or ``accuracy`` for a classification set (see
            :data:`optiscope.settings.METRICS`).
        shuffle: shuffle training batches each epoch (seeded by ``seed``); the exercise does not.
        schedule: the lr schedule (constant by default). A constant schedule is left out of
            :meth:`to_dict`, so the keys of configs stored before schedules existed hold.
    """

    optimizer: str = default("optimizer")
    hparams: Any = ()
    batch_size: int = default("batch_size")
    epochs: int = default("epochs")
    seed: int = default("seed")
    hidden: tuple[int, ...] = default("hidden")
    activation: str = default("activation")
    data: DataSpec = field(default_factory=DataSpec)
    metric: str = default("metric")
    shuffle: bool = default("shuffle")
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)

    def __post_init__(self) -> None:
        items = self.hparams.items() if isinstance(self.hparams, Mapping) else self.hparams
        frozen = tuple(sorted((str(k), _freeze(v)) for k, v in items))
        object.__setattr__(self, "hparams", frozen)
        object.__setattr__(self, "hidden", tuple(self.hidden))

    @property
    def hparam_dict(self) -> dict[str, HParam]:
        """The hyperparameters as a dict, in ``torch.optim`` spelling."""
        return dict(self.hparams)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out = {
            "optimizer": self.optimizer,
            "hparams": {k: list(v) if isinstance(v, tuple) else v for k, v in self.hparams},
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "seed": self.seed,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "data": self.data.to_dict(),
            "metric": self.metric,
            "shuffle": self.shuffle,
        }
        if self.schedule.name != "constant":  # (keys from before schedules stay valid)
            out["schedule"] = self.schedule.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        values = dict(data)
        values["data"] = DataSpec.from_dict(values.get("data", {}))
        values["hidden"] = tuple(values.get("hidden", default("hidden")))
        values["schedule"] = ScheduleSpec.from_dict(values.get("schedule", {}))
        return cls(**values)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces; equal configs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        """A stable hash of everything that changes this run's result (20 hex digits)."""
        text = f"v{RESULTS_VERSION}:{self.to_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (``hparams`` may be a partial dict to merge)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if "hparams" in changes and isinstance(changes["hparams"], Mapping):
            changes["hparams"] = {**self.hparam_dict, **changes["hparams"]}
        values.update(changes)
        return RunConfig(**values)


@dataclass(frozen=True)
class Curve:
    """Per-epoch measurements of one run; all fields have one entry per completed epoch.

    ``valid_loss`` is the validation metric (an RMSE, a log loss or an accuracy, see
    ``RunConfig.metric``) and ``train_loss`` the mean over the epoch's batches of the
    training loss the optimizer minimizes (MSE, or cross-entropy for a classification set):
    different units. Both may hold NaN or inf at the epoch a run diverged. ``lr`` is the lr
    the epoch's last optimizer step used (what an lr schedule set; the same for every step of
    an epoch with a per-epoch schedule); it is empty for curves stored before optiscope
    recorded it.
    """

    epoch: tuple[int, ...] = ()
    step: tuple[int, ...] = ()
    samples: tuple[int, ...] = ()
    seconds: tuple[float, ...] = ()
    valid_loss: tuple[float, ...] = ()
    train_loss: tuple[float, ...] = ()
    lr: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, f.name)) for f in fields(self) if f.name != "lr"}
        if self.lr:
            lengths.add(len(self.lr))
        if len(lengths) > 1:
            raise ValueError(f"Curve fields must have equal lengths, got {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict[str, list[Any]]:
        return {
            "epoch": list(self.epoch),
            "step": list(self.step),
            "samples": list(self.samples),
            "seconds": list(self.seconds),
            "valid_loss": _nan_to_none(self.valid_loss),
            "train_loss": _nan_to_none(self.train_loss),
            "lr": list(self.lr),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[Any]]) -> Curve:
        return cls(
            epoch=tuple(int(v) for v in data["epoch"]),
            step=tuple(int(v) for v in data["step"]),
            samples=tuple(int(v) for v in data["samples"]),
            seconds=tuple(float(v) for v in data["seconds"]),
            valid_loss=_none_to_nan(data["valid_loss"]),
            train_loss=_none_to_nan(data["train_loss"]),
            lr=tuple(float(v) for v in data.get("lr") or ()),
        )


@dataclass(frozen=True)
class RunRecord:
    """What one training run produced.

    Attributes:
        config: the run's settings.
        curve: per-epoch measurements (up to and including the epoch it diverged).
        status: ``done``, ``diverged`` (a loss became NaN or inf) or ``error``.
        diverged_epoch: the epoch whose loss was not finite, for ``diverged`` runs.
        error: the error text, for ``error`` runs.
        engine: the engine that trained it (``reference``, ``vectorized``, ...).
    """

    config: RunConfig
    curve: Curve
    status: Status = "done"
    diverged_epoch: int | None = None
    error: str | None = None
    engine: str = "reference"

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "curve": self.curve.to_dict(),
            "status": self.status,
            "diverged_epoch": self.diverged_epoch,
            "error": self.error,
            "engine": self.engine,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        return cls(
            config=RunConfig.from_dict(data["config"]),
            curve=Curve.from_dict(data["curve"]),
            status=data["status"],
            diverged_epoch=data.get("diverged_epoch"),
            error=data.get("error"),
            engine=data.get("engine", "reference"),
        )


@dataclass(frozen=True)
class Trajectory:
    """A path of one optimizer on a 2-D function.

    Attributes:
        label: the optimizer's display name.
        x, y: positions, starting with the start point (``steps + 1`` entries unless diverged).
        value: function value at each position.
        status: ``done`` or ``diverged``.
        diverged_step: the first step whose position or value was not finite.
    """

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    value: tuple[float, ...]
    status: Status = "done"
    diverged_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "x": _nan_to_none(self.x),
            "y": _nan_to_none(self.y),
            "value": _nan_to_none(self.value),
            "status": self.status,
            "diverged_step": self.diverged_step,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trajectory:
        return cls(
            label=data["label"],
            x=_none_to_nan(data["x"]),
            y=_none_to_nan(data["y"]),
            value=_none_to_nan(data["value"]),
            status=data["status"],
            diverged_step=data.get("diverged_step"),
        )
