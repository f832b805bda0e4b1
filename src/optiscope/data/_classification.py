"""The mlbench classification generators, with mlbench's definitions and an explicit seed.

Each function follows ``mlbench-class.R`` (mlbench 2.1, Friedrich Leisch): the same class
sizes, distributions and parameter defaults. Labels are ``0 .. C-1`` (mlbench's factor levels
``1 .. C`` minus one). As in :mod:`optiscope.data._generators`, the random streams are NumPy's,
so the numbers differ from R's while the distributions are the same.

Where mlbench has no noise parameter (``xor``, ``circle``, ``twonorm``, ``threenorm``,
``ringnorm``, ``cassini``, ``shapes``) ``sd`` defaults to 0 (mlbench's data) and ``sd > 0``
adds Gaussian noise of that standard deviation to every feature, optiscope's addition.
Where mlbench does not return exactly ``n`` rows (``hypercube`` makes ``round(n / 2^d)`` per
corner) the rows are spread so that there are exactly ``n``, the first corners taking one more.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Labels = NDArray[np.int64]

__all__ = [
    "cassini",
    "circle",
    "hypercube",
    "normals2d",
    "ringnorm",
    "shapes",
    "smiley",
    "spirals",
    "threenorm",
    "twonorm",
    "xor",
]


def _feature_noise(rng: np.random.Generator, x: Array, sd: float) -> Array:
    return x + rng.normal(0.0, sd, size=x.shape) if sd > 0 else x


def _half_split(rng: np.random.Generator, n: int) -> Labels:
    """mlbench's ``c2 <- sample(1:n, size=n/2)``: ``n // 2`` random rows are class 1, the
    rest class 0."""
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.choice(n, size=n // 2, replace=False)] = 1
    return labels


def _one_spiral(rng: np.random.Generator, n: int, cycles: float, sd: float) -> Array:
    """mlbench's ``mlbench.1spiral``: ``w = 0, c/n, 2c/n, ...`` and the point
    ``(2w + 1)(cos 2πw, sin 2πw) / 3``, moved by ``N(0, sd)`` along the curve's normal."""
    w = np.arange(n) * (cycles / n) if n else np.zeros(0)
    x = np.column_stack([np.cos(2 * np.pi * w), np.sin(2 * np.pi * w)]) * ((2 * w + 1) / 3)[:, None]
    if sd > 0:
        e = rng.normal(0.0, sd, size=n)
        xs = np.cos(2 * np.pi * w) - np.pi * (2 * w + 1) * np.sin(2 * np.pi * w)
        ys = np.sin(2 * np.pi * w) + np.pi * (2 * w + 1) * np.cos(2 * np.pi * w)
        norm = np.sqrt(xs**2 + ys**2)
        x[:, 0] += e * ys / norm
        x[:, 1] -= e * xs / norm
    return x


def spirals(n: int, sd: float = 0.0, seed: int = 0, cycles: float = 1.0) -> tuple[Array, Labels]:
    """Two interlocked spirals (``mlbench.spirals``).

    ``n // 2`` random rows are class 1, the rest class 0. Class 0 lies on the spiral
    ``(2w + 1)(cos 2πw, sin 2πw) / 3`` at ``w = 0, c/m, ..., c(m-1)/m`` (``m`` its size,
    ``c = cycles``); class 1 on the same spiral of its size, negated. Noise ``N(0, sd)`` moves
    each point along the spiral's normal.

    Args:
        n: number of samples.
        sd: standard deviation of the noise (mlbench's default 0).
        seed: seed of the random generator.
        cycles: turns of each spiral (mlbench's default 1).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)``, labels ``y`` in ``{0, 1}``.
    """
    rng = np.random.default_rng(seed)
    y = _half_split(rng, n)
    x = np.zeros((n, 2))
    x[y == 0] = _one_spiral(rng, int((y == 0).sum()), cycles, sd)
    x[y == 1] = -_one_spiral(rng, int((y == 1).sum()), cycles, sd)
    return x, y


def circle(n: int, sd: float = 0.0, seed: int = 0, d: int = 2) -> tuple[Array, Labels]:
    """A ball inside a cube (``mlbench.circle``): ``x ~ U(-1, 1)^d``, class 0 inside the ball
    of radius ``r = (2^(d-1) Γ(1 + d/2) / π^(d/2))^(1/d)``, whose volume is half the cube's,
    class 1 outside. (For ``d >= 4``, ``r > 1``: the ball pokes out of the cube and fewer
    than half the points are inside, as in mlbench.)

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features after labelling (0: mlbench's data).
        seed: seed of the random generator.
        d: dimension (mlbench's default 2).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)``, labels in ``{0, 1}``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, d))
    radius = (2 ** (d - 1) * math.gamma(1 + d / 2) / math.pi ** (d / 2)) ** (1 / d)
    y = ((x**2).sum(axis=1) > radius**2).astype(np.int64)
    return _feature_noise(rng, x, sd), y


def xor(n: int, sd: float = 0.0, seed: int = 0, d: int = 2) -> tuple[Array, Labels]:
    """The XOR problem (``mlbench.xor``): ``x ~ U(-1, 1)^d`` and ``2^(d-1)`` classes.

    The label's bit ``j`` is ``x_{j+2} >= 0`` when ``x_1 >= 0`` and ``x_{j+2} < 0`` when not;
    for ``d = 2``: class 1 where ``x_1`` and ``x_2`` have the same sign, class 0 elsewhere.

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features after labelling (0: mlbench's data).
        seed: seed of the random generator.
        d: dimension (mlbench's default 2).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)``, labels in ``0 .. 2^(d-1) - 1``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, d))
    bits = (x[:, 1:] >= 0) == (x[:, :1] >= 0)  # (n, d-1)
    y = (bits * (2 ** np.arange(d - 1))).sum(axis=1).astype(np.int64)
    return _feature_noise(rng, x, sd), y


def normals2d(
    n: int, sd: float = 1.0, seed: int = 0, cl: int = 2, r: float | None = None
) -> tuple[Array, Labels]:
    """Gaussians on a circle (``mlbench.2dnormals``): class ``e ~ U{0 .. cl-1}``, then
    ``x ~ N(r (cos(π/4 + 2πe/cl), sin(π/4 + 2πe/cl)), sd² I)``.

    Args:
        n: number of samples.
        sd: standard deviation of each Gaussian (mlbench's default 1).
        seed: seed of the random generator.
        cl: number of classes (mlbench's default 2).
        r: radius of the circle of means (mlbench's default ``sqrt(cl)``).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)``, labels in ``0 .. cl-1``.
    """
    rng = np.random.default_rng(seed)
    radius = math.sqrt(cl) if r is None else r
    e = rng.integers(0, cl, size=n)
    angle = np.pi / 4 + e * 2 * np.pi / cl
    means = radius * np.column_stack([np.cos(angle), np.sin(angle)])
    return means + rng.normal(0.0, sd, size=(n, 2)), e.astype(np.int64)


def twonorm(n: int, sd: float = 0.0, seed: int = 0, d: int = 20) -> tuple[Array, Labels]:
    """Breiman's twonorm (``mlbench.twonorm``): class 0 ``N(a 1, I)``, class 1 ``N(-a 1, I)``
    with ``a = 2 / sqrt(d)``; ``n // 2`` random rows are class 1.

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features (0: mlbench's data).
        seed: seed of the random generator.
        d: dimension (mlbench's default 20).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)``, labels in ``{0, 1}``.
    """
    rng = np.random.default_rng(seed)
    y = _half_split(rng, n)
    a = 2 / math.sqrt(d)
    x = rng.normal(0.0, 1.0, size=(n, d)) + np.where(y == 0, a, -a)[:, None]
    return _feature_noise(rng, x, sd), y


def threenorm(n: int, sd: float = 0.0, seed: int = 0, d: int = 20) -> tuple[Array, Labels]:
    """Breiman's threenorm (``mlbench.threenorm``): class 0 is ``N(a 1, I)`` or ``N(-a 1, I)``
    with probability 1/2 each, class 1 ``N(m, I)`` with ``m = (a, -a, a, -a, ...)``,
    ``a = 2 / sqrt(d)``; ``n // 2`` random rows are class 1.

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features (0: mlbench's data).
        seed: seed of the random generator.
        d: dimension (mlbench's default 20).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)``, labels in ``{0, 1}``.
    """
    rng = np.random.default_rng(seed)
    y = _half_split(rng, n)
    a = 2 / math.sqrt(d)
    sign = np.where(rng.uniform(size=n) < 0.5, 1.0, -1.0)  # class 0's component
    alternating = np.where(np.arange(d) % 2 == 0, a, -a)  # (d,)
    means = np.where((y == 0)[:, None], sign[:, None] * a, alternating[None, :])  # (n, d)
    x = means + rng.normal(0.0, 1.0, size=(n, d))
    return _feature_noise(rng, x, sd), y


def ringnorm(n: int, sd: float = 0.0, seed: int = 0, d: int = 20) -> tuple[Array, Labels]:
    """Breiman's ringnorm (``mlbench.ringnorm``): class 0 ``N(0, 4 I)``, class 1
    ``N(a 1, I)`` with ``a = 1 / sqrt(d)``; ``n // 2`` random rows are class 1.

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features (0: mlbench's data).
        seed: seed of the random generator.
        d: dimension (mlbench's default 20).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)``, labels in ``{0, 1}``.
    """
    rng = np.random.default_rng(seed)
    y = _half_split(rng, n)
    a = 1 / math.sqrt(d)
    z = rng.normal(0.0, 1.0, size=(n, d))
    x = np.where((y == 0)[:, None], 2.0 * z, z + a)
    return _feature_noise(rng, x, sd), y


def _cassini_curve(x: Array, a: float, c: float) -> Array:
    """The upper half of the Cassini oval ``((x-c)² + y²)((x+c)² + y²) = a⁴`` at ``x`` (NaN
    where the oval has no point: such draws are rejected, as mlbench's range makes them
    rare)."""
    inner = -(c**2) - x**2 + np.sqrt(a**4 + 4 * c**2 * x**2)
    with np.errstate(invalid="ignore"):
        return np.sqrt(inner)


def _rejection(
    rng: np.random.Generator,
    n: int,
    box: tuple[tuple[float, float], tuple[float, float]],
    keep: Callable[[Array, Array], NDArray[np.bool_]],
) -> Array:
    """``n`` points uniform on the region ``keep`` accepts inside ``box``: uniform draws
    in the box, kept or rejected (mlbench draws one point at a time; blocks give the same
    distribution)."""
    (x_low, x_high), (y_low, y_high) = box
    found: list[Array] = []
    count = 0
    while count < n:
        block = max(64, 2 * (n - count))
        x = rng.uniform(x_low, x_high, block)
        y = rng.uniform(y_low, y_high, block)
        points = np.column_stack([x, y])[keep(x, y)]
        found.append(points)
        count += len(points)
    return np.concatenate(found)[:n] if found else np.zeros((0, 2))


#: mlbench's cassini constants: the outer oval ``a = 1, C = 0.97``; the inner ellipse-like
#: oval ``Cell = sqrt((1 + C²) / 3)``, ``aell = Cell sqrt 2``; shifted by ``transl = 1.1``;
#: the middle disc's radius ``0.6``.
CASSINI = {"a": 1.0, "C": 0.97, "transl": 1.1, "r": 0.6}


def cassini(n: int, sd: float = 0.0, seed: int = 0) -> tuple[Array, Labels]:
    """Two bananas and a disc (``mlbench.cassini``, ``relsize = (2, 2, 1)``).

    Sizes ``round(2n/5)``, ``round(2n/5)``, ``round(n/5)`` (plus one for the disc when they do
    not add up to ``n``). Class 0: uniform on the region below the Cassini oval (``a = 1``,
    ``C = 0.97``) and above the lower half of the oval with ``Cell = sqrt((1 + C²)/3)``,
    ``aell = Cell sqrt 2``, both shifted down by 1.1; class 1: its mirror image, shifted up;
    class 2: uniform on the disc of radius 0.6 at the origin. Rows are in class order.

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features (0: mlbench's data).
        seed: seed of the random generator.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)``, labels in ``{0, 1, 2}``.
    """
    rng = np.random.default_rng(seed)
    sizes = [round(2 * n / 5), round(2 * n / 5), round(n / 5)]
    if sum(sizes) != n:
        sizes[2] += 1
    a, c, t, r = CASSINI["a"], CASSINI["C"], CASSINI["transl"], CASSINI["r"]
    c_ell = math.sqrt((1 + c**2) / 3)
    a_ell = c_ell * math.sqrt(2)
    width = math.sqrt(a**2 + c**2)

    def lower(x: Array, y: Array) -> NDArray[np.bool_]:
        return (y < _cassini_curve(x, a, c) - t) & (y > -_cassini_curve(x, a_ell, c_ell) - t)

    def upper(x: Array, y: Array) -> NDArray[np.bool_]:
        return (y > -_cassini_curve(x, a, c) + t) & (y < _cassini_curve(x, a_ell, c_ell) + t)

    def disc(x: Array, y: Array) -> NDArray[np.bool_]:
        return x**2 + y**2 < r**2

    parts = [
        _rejection(rng, sizes[0], ((-width, width), (-t - 1, -t + 0.6)), lower),
        _rejection(rng, sizes[1], ((-width, width), (t - 0.6, t + 1)), upper),
        _rejection(rng, sizes[2], ((-r, r), (-r, r)), disc),
    ]
    y = np.repeat(np.arange(3), sizes).astype(np.int64)
    return _feature_noise(rng, np.concatenate(parts), sd), y


def smiley(n: int, sd: float = 0.1, seed: int = 0, sd2: float = 0.05) -> tuple[Array, Labels]:
    """A smiley (``mlbench.smiley``): two eyes, a nose and a mouth.

    Sizes ``round(n/6)`` per eye, ``round(n/4)`` for the nose, the rest for the mouth. Eyes:
    ``N((∓0.8, 1), sd² I)``; nose: ``u ~ U(-0.2, 0.2)``, ``v ~ U(0, 0.75)``, the point
    ``(u (1 - v), v)``; mouth: ``u ~ U(-1, 1)``, the point ``(u, u² - 1 + N(0, sd2²))``.
    Rows are in class order.

    Args:
        n: number of samples.
        sd: standard deviation of the eyes (mlbench's ``sd1``, default 0.1).
        seed: seed of the random generator.
        sd2: standard deviation of the mouth (mlbench's default 0.05).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)``, labels in ``{0, 1, 2, 3}``.
    """
    rng = np.random.default_rng(seed)
    n1, n2 = round(n / 6), round(n / 4)
    n3 = n - 2 * n1 - n2
    eye1 = np.column_stack([rng.normal(-0.8, sd, n1), rng.normal(1.0, sd, n1)])
    eye2 = np.column_stack([rng.normal(0.8, sd, n1), rng.normal(1.0, sd, n1)])
    u, v = rng.uniform(-0.2, 0.2, n2), rng.uniform(0.0, 0.75, n2)
    nose = np.column_stack([u * (1 - v), v])
    w = rng.uniform(-1.0, 1.0, n3)
    mouth = np.column_stack([w, w**2 - 1 + rng.normal(0.0, sd2, n3)])
    y = np.repeat(np.arange(4), [n1, n1, n2, n3]).astype(np.int64)
    return np.concatenate([eye1, eye2, nose, mouth]), y


def shapes(n: int, sd: float = 0.0, seed: int = 0) -> tuple[Array, Labels]:
    """Four shapes (``mlbench.shapes``): a Gaussian, a square, a triangle and a wave.

    Sizes ``round(n/4)`` for the first three, the rest for the wave. Gaussian:
    ``N((-1, 1.5), 0.2² I)``; square: ``U(-1.5, -0.5) x U(-2, 0)``; triangle: ``u ~ U(-1, 1)``,
    ``v ~ U(1, 2)``, the point ``(u (2 - v) + 1, v)``; wave: ``u ~ U(0.5, 2)``, the point
    ``(u, cos 4u - u + U(-0.2, 0.2))``. Rows are in class order.

    Args:
        n: number of samples.
        sd: Gaussian noise added to the features (0: mlbench's data).
        seed: seed of the random generator.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)``, labels in ``{0, 1, 2, 3}``.
    """
    rng = np.random.default_rng(seed)
    n1 = round(n / 4)
    n2 = n - 3 * n1
    gaussian = np.column_stack([rng.normal(-1.0, 0.2, n1), rng.normal(1.5, 0.2, n1)])
    square = np.column_stack([rng.uniform(-1.5, -0.5, n1), rng.uniform(-2.0, 0.0, n1)])
    u, v = rng.uniform(-1.0, 1.0, n1), rng.uniform(1.0, 2.0, n1)
    triangle = np.column_stack([u * (2 - v) + 1, v])
    w = rng.uniform(0.5, 2.0, n2)
    wave = np.column_stack([w, np.cos(4 * w) - w + rng.uniform(-0.2, 0.2, n2)])
    y = np.repeat(np.arange(4), [n1, n1, n1, n2]).astype(np.int64)
    x = np.concatenate([gaussian, square, triangle, wave])
    return _feature_noise(rng, x, sd), y


def hypercube(n: int, sd: float = 0.1, seed: int = 0, d: int = 3) -> tuple[Array, Labels]:
    """Gaussians at the corners of the unit cube (``mlbench.hypercube``, ``sides = 1``).

    Corner ``k`` (``k = 0 .. 2^d - 1``) is ``mlbench``'s row ``k + 1`` of ``hypercube(d)``:
    the binary digits of ``k``, most significant first; its points are
    ``N(corner, sd² I)``. mlbench makes ``round(n / 2^d)`` points per corner; here the ``n``
    rows are spread as evenly (the first ``n mod 2^d`` corners take one more), so a data set
    has the ``n`` rows it was asked for. Rows are in class order.

    Args:
        n: number of samples.
        sd: standard deviation around each corner (mlbench's default 0.1).
        seed: seed of the random generator.
        d: dimension (mlbench's default 3).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)``, labels in ``0 .. 2^d - 1``.
    """
    rng = np.random.default_rng(seed)
    corners = 2**d
    sizes = np.full(corners, n // corners)
    sizes[: n % corners] += 1
    y = np.repeat(np.arange(corners), sizes).astype(np.int64)
    digits = (y[:, None] >> np.arange(d - 1, -1, -1)[None, :]) & 1  # (n, d)
    return digits + rng.normal(0.0, sd, size=(n, d)), y
