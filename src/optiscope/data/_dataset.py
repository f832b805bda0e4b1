"""Train/validation data as float32 tensors: built from a :class:`DataSpec` or from user arrays."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optiscope.data._generators import GENERATORS, Task, get_generator
from optiscope.errors import ConfigError, DataError
from optiscope.records import DataSpec
from optiscope.settings import SETTINGS

__all__ = [
    "Dataset",
    "dimension_problem",
    "make_dataset",
    "resolve_data_spec",
    "split_problem",
    "task_of",
    "validate_data_spec",
]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training and validation tensors (float32, on the CPU).

    Attributes:
        X_train: features, shape ``(N_train, F)``.
        y_train: targets, float32 ``(N_train, 1)`` for regression; class labels, int64
            ``(N_train,)`` for classification (what ``nn.CrossEntropyLoss`` takes).
        X_valid: features, shape ``(N_valid, F)``.
        y_valid: targets, as ``y_train``.
        spec: what produced the data (``name="custom"`` for user arrays).
        n_classes: number of classes; 0 for a regression set.
    """

    X_train: Tensor
    y_train: Tensor
    X_valid: Tensor
    y_valid: Tensor
    spec: DataSpec
    n_classes: int = 0

    @property
    def n_outputs(self) -> int:
        """Output units of a network for this data: one per class, or 1 for regression."""
        return self.n_classes or 1

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_valid(self) -> int:
        return int(self.X_valid.shape[0])

    @classmethod
    def from_arrays(
        cls, X_train: Any, y_train: Any, X_valid: Any, y_valid: Any, *, standardize: bool = False
    ) -> Dataset:
        """Wrap user data (NumPy arrays, torch tensors or nested lists).

        ``X`` must be 2-D ``(N, F)``; ``y`` may be ``(N,)`` or ``(N, 1)``. Values are converted to
        float32 and checked: same number of rows in X and y, the same features in both splits,
        no empty split, no NaN or inf.

        Raises:
            DataError: naming the array, its shape and what is expected.
        """
        arrays = {
            "X_train": _as_float_array("X_train", X_train),
            "y_train": _as_float_array("y_train", y_train),
            "X_valid": _as_float_array("X_valid", X_valid),
            "y_valid": _as_float_array("y_valid", y_valid),
        }
        for split in ("train", "valid"):
            X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
            if X.ndim != 2:
                raise DataError(
                    f"X_{split} has shape {X.shape}; features must be 2-D (samples, features). "
                    "Reshape a single feature with X.reshape(-1, 1)."
                )
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                raise DataError(
                    f"y_{split} has shape {y.shape}; the target must be (samples,) or (samples, 1)."
                )
            if X.shape[0] == 0:
                raise DataError(f"the {split} split is empty; it needs at least one sample.")
            if X.shape[1] == 0:
                raise DataError(
                    f"X_{split} has shape {X.shape}: no features; the network needs at least "
                    "one input column."
                )
            if y.shape[0] != X.shape[0]:
                raise DataError(
                    f"X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]}; "
                    "they must match."
                )
            arrays[f"y_{split}"] = y
        if arrays["X_train"].shape[1] != arrays["X_valid"].shape[1]:
            raise DataError(
                f"X_train has {arrays['X_train'].shape[1]} features but X_valid has "
                f"{arrays['X_valid'].shape[1]}; both splits need the same features."
            )
        digest = hashlib.sha256()
        for name, array in arrays.items():
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        spec = DataSpec(
            name="custom",
            n=int(arrays["X_train"].shape[0] + arrays["X_valid"].shape[0]),
            sd=0.0,
            seed=0,
            train_fraction=arrays["X_train"].shape[0]
            / (arrays["X_train"].shape[0] + arrays["X_valid"].shape[0]),
            standardize=standardize,
            fingerprint=digest.hexdigest()[:20],
        )
        return _finish(arrays, spec)


def _as_float_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"{name} could not be read as numbers ({type(value).__name__}): {err}"
        ) from err
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{name} contains {int(bad.sum())} NaN or inf value(s), first at index {where}; "
            "remove or impute them before training."
        )
    return array


def _finish(arrays: dict[str, np.ndarray], spec: DataSpec, n_classes: int = 0) -> Dataset:
    X_train, y_train = arrays["X_train"], arrays["y_train"]
    X_valid, y_valid = arrays["X_valid"], arrays["y_valid"]
    if spec.standardize:
        # Statistics of the training split only, so validation stays unseen.
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        X_train, X_valid = (X_train - mean) / std, (X_valid - mean) / std
        if not n_classes:  # (class labels are not scaled)
            y_mean, y_std = y_train.mean(), y_train.std()
            y_std = y_std if y_std > 0 else 1.0
            y_train, y_valid = (y_train - y_mean) / y_std, (y_valid - y_mean) / y_std

    def tensor(a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    def target(a: np.ndarray) -> Tensor:
        if n_classes:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))  # (N,)
        return tensor(a).reshape(-1, 1)  # (N, 1)

    return Dataset(
        X_train=tensor(X_train),
        y_train=target(y_train),
        X_valid=tensor(X_valid),
        y_valid=target(y_valid),
        spec=spec,
        n_classes=n_classes,
    )


def resolve_data_spec(spec: DataSpec) -> DataSpec:
    """The spec with ``sd=None`` replaced by its generator's default noise, and a ``d`` equal
    to its generator's default dimension stored as ``None``.

    The one place a data set's defaults are settled; configs are stored resolved, so
    ``DataSpec(name="friedman1")`` and ``dataset="friedman1"`` are the same data (sd 1.0), and
    ``twonorm`` with ``d=20`` (its default) and without ``d`` are one value with one key, the
    key results stored before ``d`` existed have.

    Raises:
        ConfigError: for an unknown generator.
    """
    if spec.name == "custom":
        return spec
    info = get_generator(spec.name)
    if spec.sd is None:
        spec = dataclasses.replace(spec, sd=info.default_sd)
    if spec.d is not None and spec.d == info.default_d:
        spec = dataclasses.replace(spec, d=None)
    return spec


def dimension_problem(spec: DataSpec) -> str | None:
    """Why ``spec``'s dimension ``d`` does not fit its generator (``None`` when it does, or
    when no ``d`` is given): a set of fixed shape takes none, and each set that takes one has
    its range (:attr:`GeneratorInfo.d_range`)."""
    if spec.d is None or spec.name not in GENERATORS:
        return None
    info = GENERATORS[spec.name]
    if info.d_range is None:
        takers = ", ".join(name for name, other in GENERATORS.items() if other.takes_d)
        return (
            f"`d` = {spec.d!r}: {spec.name} has a fixed shape and takes no dimension; "
            f"the sets that take `d` are: {takers}"
        )
    least, most = info.d_range
    if not least <= spec.d <= most:
        return (
            f"`d` = {spec.d!r} is outside {spec.name}'s dimensions; choose one in {least} .. {most}"
        )
    return None


def task_of(spec: DataSpec) -> Task:
    """The task of the data ``spec`` names: its generator's, or ``regression`` for user arrays
    and names that are not registered (those are refused by :func:`validate_data_spec`)."""
    info = GENERATORS.get(spec.name)
    return info.task if info is not None else "regression"


def split_problem(spec: DataSpec) -> str | None:
    """Why ``spec``'s train/validation split would leave a side empty (``None`` when it does
    not)."""
    n_train = round(spec.n * spec.train_fraction)
    if n_train < 1 or n_train >= spec.n:
        return (
            f"n = {spec.n} with train_fraction = {spec.train_fraction:g} leaves an empty split; "
            "use more samples or a fraction nearer 0.5"
        )
    return None


def validate_data_spec(spec: DataSpec) -> None:
    """Check a data spec before anything is generated (the settings registry's rules for
    ``n``, ``noise``, ``d`` and ``train_fraction``, then the generator's dimensions and the
    split).

    Raises:
        ConfigError: for an unknown generator, a non-positive size, negative noise, a ``d``
            its generator does not take, or a split that leaves either side empty.
    """
    if spec.name == "custom":
        return
    get_generator(spec.name)
    # field -> (its setting's rule, its value); problems name the field as DataSpec spells it
    rules = {"n": "n", "sd": "noise", "d": "d", "train_fraction": "train_fraction"}
    problems = [
        problem
        for field, setting in rules.items()
        if (value := getattr(spec, field)) is not None
        for problem in dataclasses.replace(SETTINGS[setting], name=field).problems(value)
    ]
    if not problems:
        problems = [p for p in (dimension_problem(spec), split_problem(spec)) if p is not None]
    if problems:
        raise ConfigError(f"{'; '.join(problems)}.")


def make_dataset(spec: DataSpec | None = None) -> Dataset:
    """Generate and split a data set; the same spec always gives the same tensors.

    The generator is seeded with ``spec.seed``; the split is a permutation drawn from a second
    stream of the same seed, so the split does not depend on the generator's draws.

    Args:
        spec: the data set; ``None`` gives the exercise's friedman3 (n=1000, sd=0.1, 700/300);
            ``sd=None`` is the generator's own default noise, ``d=None`` its own dimension.

    Returns:
        The split, float32 data set.

    Raises:
        ConfigError: when the spec is invalid (see :func:`validate_data_spec`).
    """
    spec = spec or DataSpec()
    if spec.name == "custom":
        raise ConfigError(
            "a 'custom' data spec has no generator; pass the arrays with data=(X_train, y_train, "
            "X_valid, y_valid) instead."
        )
    validate_data_spec(spec)
    spec = resolve_data_spec(spec)
    assert spec.sd is not None  # (resolved above)
    info = get_generator(spec.name)
    shape = {} if spec.d is None else {"d": spec.d}
    X, y = info.make(spec.n, spec.sd, spec.seed, **shape)  # X: (n, info.features(d))
    order = np.random.default_rng([spec.seed, 1]).permutation(spec.n)
    n_train = round(spec.n * spec.train_fraction)
    train, valid = order[:n_train], order[n_train:]
    arrays = {"X_train": X[train], "y_train": y[train], "X_valid": X[valid], "y_valid": y[valid]}
    return _finish(arrays, spec, info.classes(spec.d))
