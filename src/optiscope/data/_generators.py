"""The registry of data generators, and mlbench's regression generators with mlbench's
definitions and an explicit seed (the classification sets are in ``_classification.py``).

mlbench (R) draws from R's global RNG; here each call takes a ``seed`` and uses its own NumPy
``Generator``, so the same ``(n, sd, seed)`` always gives the same data. The distributions are
mlbench's; the random streams are NumPy's, so the numbers differ from R's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from optiscope.data._classification import (
    cassini,
    circle,
    hypercube,
    normals2d,
    ringnorm,
    shapes,
    smiley,
    spirals,
    threenorm,
    twonorm,
    xor,
)
from optiscope.errors import ConfigError

Array = NDArray[np.float64]


def _noise(rng: np.random.Generator, y: Array, sd: float) -> Array:
    return y + rng.normal(0.0, sd, size=y.shape) if sd > 0 else y


def friedman1(n: int, sd: float = 1.0, seed: int = 0) -> tuple[Array, Array]:
    """Friedman's first problem: 10 uniform features, 5 of them used.

    .. math:: y = 10 \\sin(\\pi x_1 x_2) + 20 (x_3 - 0.5)^2 + 10 x_4 + 5 x_5 + \\varepsilon

    Args:
        n: number of samples.
        sd: standard deviation of the Gaussian noise ``ε`` (mlbench's default 1).
        seed: seed of the random generator.

    Returns:
        ``(X, y)`` with ``X`` of shape ``(n, 10)`` and ``y`` of shape ``(n,)``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, 10))
    y = 10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2
    y = y + 10 * x[:, 3] + 5 * x[:, 4]
    return x, _noise(rng, y, sd)


def _friedman23_inputs(rng: np.random.Generator, n: int) -> Array:
    return np.column_stack(
        [
            rng.uniform(0.0, 100.0, n),
            rng.uniform(40 * np.pi, 560 * np.pi, n),
            rng.uniform(0.0, 1.0, n),
            rng.uniform(1.0, 11.0, n),
        ]
    )


def friedman2(n: int, sd: float = 125.0, seed: int = 0) -> tuple[Array, Array]:
    """Friedman's second problem (impedance of an AC circuit).

    .. math:: y = \\sqrt{x_1^2 + (x_2 x_3 - 1 / (x_2 x_4))^2} + \\varepsilon

    with ``x1 ~ U(0, 100)``, ``x2 ~ U(40π, 560π)``, ``x3 ~ U(0, 1)``, ``x4 ~ U(1, 11)``.

    Args:
        n: number of samples.
        sd: noise standard deviation (mlbench's default 125).
        seed: seed of the random generator.

    Returns:
        ``(X, y)`` with ``X`` of shape ``(n, 4)``.
    """
    rng = np.random.default_rng(seed)
    x = _friedman23_inputs(rng, n)
    y = np.sqrt(x[:, 0] ** 2 + (x[:, 1] * x[:, 2] - 1 / (x[:, 1] * x[:, 3])) ** 2)
    return x, _noise(rng, y, sd)


def friedman3(n: int, sd: float = 0.1, seed: int = 0) -> tuple[Array, Array]:
    """Friedman's third problem (phase angle of the same circuit); the exercise's data.

    .. math:: y = \\arctan\\left(\\frac{x_2 x_3 - 1 / (x_2 x_4)}{x_1}\\right) + \\varepsilon

    Inputs as in :func:`friedman2`.

    Args:
        n: number of samples.
        sd: noise standard deviation (mlbench's default 0.1).
        seed: seed of the random generator.

    Returns:
        ``(X, y)`` with ``X`` of shape ``(n, 4)``.
    """
    rng = np.random.default_rng(seed)
    x = _friedman23_inputs(rng, n)
    y = np.arctan((x[:, 1] * x[:, 2] - 1 / (x[:, 1] * x[:, 3])) / x[:, 0])
    return x, _noise(rng, y, sd)


def peak(n: int, sd: float = 0.0, seed: int = 0, d: int = 20) -> tuple[Array, Array]:
    """mlbench's peak problem: points in a ``d``-ball of radius 3, target a Gaussian bump.

    The radius is ``U(0, 3)``, the direction uniform on the sphere, and
    ``y = 25 exp(-r^2 / 2)``. mlbench adds no noise; ``sd > 0`` adds Gaussian noise.

    Args:
        n: number of samples.
        sd: noise standard deviation (0: mlbench's noiseless target).
        seed: seed of the random generator.
        d: dimension (mlbench's default 20).

    Returns:
        ``(X, y)`` with ``X`` of shape ``(n, d)``.
    """
    rng = np.random.default_rng(seed)
    radius = rng.uniform(0.0, 3.0, n)
    direction = rng.normal(size=(n, d))
    x = radius[:, None] * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    y = 25 * np.exp(-0.5 * radius**2)
    return x, _noise(rng, y, sd)


Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class GeneratorInfo:
    """A registered generator and what it makes (capabilities are data, not name checks).

    Attributes:
        name: the registry's name (``friedman3``, ``spirals``).
        make: ``make(n, sd, seed) -> (X, y)`` (and ``d=`` where :attr:`takes_d`); ``y`` is a
            float target for regression and integer labels ``0 .. n_classes - 1`` for
            classification.
        n_features: columns of ``X`` at the default dimension.
        summary: one line for help texts.
        task: ``regression`` or ``classification``.
        n_classes: number of classes (0 for regression), at the default dimension.
        d_range: the dimensions ``d`` the generator takes (its function's ``d`` argument,
            as mlbench's), ``(least, most)``; ``None`` for a generator of fixed shape.
        classes_of_d: the number of classes at dimension ``d``, for a set whose classes
            grow with it (xor: ``2^(d-1)``, hypercube: ``2^d``); ``None``: ``n_classes``.
    """

    name: str
    make: Callable[..., tuple[Array, Any]]
    n_features: int
    summary: str
    task: Task = "regression"
    n_classes: int = 0
    d_range: tuple[int, int] | None = None
    classes_of_d: Callable[[int], int] | None = None

    @property
    def takes_d(self) -> bool:
        """Whether the generator takes a dimension ``d``."""
        return self.d_range is not None

    @property
    def default_d(self) -> int | None:
        """The generator function's own ``d`` default (mlbench's; ``None`` when it takes no
        ``d``): the one place a data set's default dimension is decided."""
        if not self.takes_d:
            return None
        return int(inspect.signature(self.make).parameters["d"].default)

    def features(self, d: int | None = None) -> int:
        """Columns of ``X`` at dimension ``d`` (``None``: the default)."""
        return self.n_features if d is None else d

    def classes(self, d: int | None = None) -> int:
        """Classes at dimension ``d`` (``None``: the default); 0 for regression."""
        if d is None or self.classes_of_d is None:
            return self.n_classes
        return self.classes_of_d(d)

    @property
    def classification(self) -> bool:
        """Whether the generator makes class labels (trained with cross-entropy)."""
        return self.task == "classification"

    @property
    def default_sd(self) -> float:
        """The noise of the generator function's own ``sd`` default (mlbench's): the one
        place a data set's default noise is decided."""
        return float(inspect.signature(self.make).parameters["sd"].default)


_WIDE = (1, 10_000)
"""The dimensions a set whose size does not grow with ``d`` takes (10,000: a sanity cap)."""

_CLASSIFICATION: tuple[GeneratorInfo, ...] = tuple(
    GeneratorInfo(name, make, features, summary, "classification", classes, *by_d)
    for name, make, features, classes, summary, *by_d in (
        ("spirals", spirals, 2, 2, "two interlocked spirals"),
        ("circle", circle, 2, 2, "a disc inside a square", _WIDE),
        ("xor", xor, 2, 2, "the XOR of two signs", (2, 12), lambda d: 2 ** (d - 1)),
        ("twonorm", twonorm, 20, 2, "two Gaussians in 20-d (Breiman)", _WIDE),
        (
            "threenorm",
            threenorm,
            20,
            2,
            "a 2-Gaussian mixture against a third, 20-d (Breiman)",
            _WIDE,
        ),
        ("ringnorm", ringnorm, 20, 2, "a wide Gaussian around a narrow one, 20-d (Breiman)", _WIDE),
        ("cassini", cassini, 2, 3, "two bananas and a disc"),
        ("2dnormals", normals2d, 2, 2, "two Gaussians on a circle"),
        ("smiley", smiley, 2, 4, "eyes, nose and mouth"),
        (
            "hypercube",
            hypercube,
            3,
            8,
            "Gaussians at the 8 corners of the unit cube",
            (1, 10),
            lambda d: 2**d,
        ),
        ("shapes", shapes, 2, 4, "a Gaussian, a square, a triangle and a wave"),
    )
)
"""The mlbench classification sets. xor has ``2^(d-1)`` classes and hypercube ``2^d``, so
their ``d`` is capped where the output layer stays small (2,048 and 1,024 classes)."""

GENERATORS: dict[str, GeneratorInfo] = {
    info.name: info
    for info in (
        GeneratorInfo("friedman1", friedman1, 10, "10 uniform inputs, 5 used"),
        GeneratorInfo("friedman2", friedman2, 4, "AC circuit impedance"),
        GeneratorInfo("friedman3", friedman3, 4, "AC circuit phase (the exercise)"),
        GeneratorInfo("peak", peak, 20, "Gaussian bump in a 20-d ball", d_range=_WIDE),
        *_CLASSIFICATION,
    )
}


def get_generator(name: str) -> GeneratorInfo:
    """Look up a data generator by name.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    try:
        return GENERATORS[name]
    except KeyError:
        known = ", ".join(GENERATORS)
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of: {known} (or pass data=...)"
        ) from None
