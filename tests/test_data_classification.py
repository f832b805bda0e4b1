"""The classification sets equal mlbench's definitions (``mlbench-class.R``).

Each test states the definition as a formula and checks it: exactly where a point's label or
place is fixed by the definition (inside or outside a ball, on a spiral, inside an oval), and
by the statistics of a large sample where it is random (class shares, means, covariances).
Tolerances are about five standard errors of the estimate at the sample size used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optiscope.data import GENERATORS, make_dataset
from optiscope.records import DataSpec

N = 40_000
CLASSIFICATION = [name for name, info in GENERATORS.items() if info.classification]


def _sample(name: str, n: int = N, **options: float) -> tuple[np.ndarray, np.ndarray]:
    return GENERATORS[name].make(n, GENERATORS[name].default_sd, 7, **options)  # type: ignore[call-arg]


def _mean_close(x: np.ndarray, mean: np.ndarray | list[float], sd: float = 1.0) -> None:
    tolerance = 5 * sd / math.sqrt(len(x))
    np.testing.assert_allclose(x.mean(axis=0), mean, rtol=0, atol=tolerance)


def _cov_close(x: np.ndarray, cov: np.ndarray, scale: float = 1.0) -> None:
    # the standard error of a sample covariance entry is about scale * sqrt(2 / n)
    np.testing.assert_allclose(np.cov(x.T), cov, rtol=0, atol=5 * scale * math.sqrt(2 / len(x)))


def test_the_registry_lists_mlbenchs_eleven_classification_sets() -> None:
    assert CLASSIFICATION == [
        "spirals",
        "circle",
        "xor",
        "twonorm",
        "threenorm",
        "ringnorm",
        "cassini",
        "2dnormals",
        "smiley",
        "hypercube",
        "shapes",
    ]
    classes = {name: GENERATORS[name].n_classes for name in CLASSIFICATION}
    assert classes == {
        "spirals": 2,
        "circle": 2,
        "xor": 2,
        "twonorm": 2,
        "threenorm": 2,
        "ringnorm": 2,
        "cassini": 3,
        "2dnormals": 2,
        "smiley": 4,
        "hypercube": 8,  # 2^3 corners
        "shapes": 4,
    }
    assert all(GENERATORS[n].task == "regression" for n in ("friedman1", "friedman3", "peak"))
    assert all(GENERATORS[n].n_classes == 0 for n in ("friedman1", "friedman3", "peak"))


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_every_set_gives_n_rows_of_its_features_and_every_class(name: str) -> None:
    info = GENERATORS[name]
    for n in (997, 1000):  # odd sizes too: the class sizes' rounding must add up to n
        x, y = _sample(name, n)
        assert x.shape == (n, info.n_features) and y.shape == (n,)
        assert y.dtype == np.int64 and np.isfinite(x).all()
        assert sorted(set(y.tolist())) == list(range(info.n_classes))
    again = _sample(name, 1000)
    np.testing.assert_array_equal(again[0], _sample(name, 1000)[0])  # seeded


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_a_dataset_holds_labels_for_cross_entropy(name: str) -> None:
    data = make_dataset(DataSpec(name=name, n=200, standardize=True))
    assert data.n_classes == GENERATORS[name].n_classes == data.n_outputs
    assert data.y_train.dtype == data.y_valid.dtype == torch.int64
    assert data.y_train.shape == (140,) and data.y_valid.shape == (60,)
    assert int(data.y_train.min()) >= 0 and int(data.y_train.max()) < data.n_classes


def test_spirals_lie_on_mlbenchs_spiral_and_the_noise_moves_along_its_normal() -> None:
    # class 0: (2w + 1)(cos 2πw, sin 2πw) / 3 with w = 0, 1/m, ..., (m-1)/m; class 1 negated;
    # n // 2 rows are class 1 (mlbench: sample(1:n, size = n/2)).
    x, y = _sample("spirals")
    assert (y == 1).sum() == N // 2
    for label, sign in ((0, 1.0), (1, -1.0)):
        points = sign * x[y == label]
        m = len(points)
        w = np.arange(m) / m
        clean = (
            (2 * w + 1)[:, None]
            / 3
            * np.column_stack([np.cos(2 * np.pi * w), np.sin(2 * np.pi * w)])
        )
        np.testing.assert_allclose(points, clean, rtol=0, atol=1e-12)
    sd = 0.05
    x, y = GENERATORS["spirals"].make(N, sd, 7)
    points = x[y == 0]
    m = len(points)
    w = np.arange(m) / m
    clean = (
        (2 * w + 1)[:, None] / 3 * np.column_stack([np.cos(2 * np.pi * w), np.sin(2 * np.pi * w)])
    )
    moved = points - clean
    # the tangent of the spiral, d/dw of 3x: (2cos - 2π(2w+1) sin, 2 sin + 2π(2w+1) cos)
    tangent = np.column_stack(
        [
            np.cos(2 * np.pi * w) - np.pi * (2 * w + 1) * np.sin(2 * np.pi * w),
            np.sin(2 * np.pi * w) + np.pi * (2 * w + 1) * np.cos(2 * np.pi * w),
        ]
    )
    np.testing.assert_allclose((moved * tangent).sum(axis=1), 0.0, atol=1e-12)  # normal only
    distance = np.linalg.norm(moved, axis=1)
    assert abs(np.mean(distance**2) - sd**2) < 5 * sd**2 * math.sqrt(2 / m)


def test_circle_is_a_ball_of_half_the_cubes_volume() -> None:
    # x ~ U(-1, 1)^2; class 0 inside radius r = (2^(d-1) Γ(1 + d/2) / π^(d/2))^(1/d) = sqrt(2/π)
    x, y = _sample("circle")
    np.testing.assert_array_equal(y, ((x**2).sum(axis=1) > 2 / math.pi).astype(np.int64))
    assert abs(y.mean() - 0.5) < 5 * 0.5 / math.sqrt(N)  # the ball holds half the volume
    assert x.min() >= -1 and x.max() <= 1
    _cov_close(x, np.eye(2) / 3, scale=1 / 3)  # U(-1, 1) has variance 1/3
    # d = 3: r ~ 0.985 still fits in the cube, so the classes stay balanced (from d = 4 on
    # r > 1 and the ball pokes out: mlbench's formula then puts more than half outside)
    x, y = GENERATORS["circle"].make(N, 0.0, 7, d=3)  # type: ignore[call-arg]
    assert abs(y.mean() - 0.5) < 5 * 0.5 / math.sqrt(N)
    x, y = GENERATORS["circle"].make(N, 0.0, 7, d=5)  # type: ignore[call-arg]
    assert y.mean() > 0.5 + 5 * 0.5 / math.sqrt(N)


def test_xor_labels_points_by_whether_the_signs_agree() -> None:
    x, y = _sample("xor")
    np.testing.assert_array_equal(y, ((x[:, 0] >= 0) == (x[:, 1] >= 0)).astype(np.int64))
    assert abs(y.mean() - 0.5) < 5 * 0.5 / math.sqrt(N)
    # d = 3: four classes, the bits of (x2, x3) compared with x1's sign, x2 the low bit
    x, y = GENERATORS["xor"].make(N, 0.0, 7, d=3)  # type: ignore[call-arg]
    same = x[:, 1:] >= 0
    same = np.where(x[:, :1] >= 0, same, ~same)
    np.testing.assert_array_equal(y, same[:, 0] + 2 * same[:, 1])


def test_twonorm_is_two_unit_gaussians_at_plus_and_minus_a() -> None:
    x, y = _sample("twonorm")
    a = 2 / math.sqrt(20)
    assert (y == 1).sum() == N // 2
    _mean_close(x[y == 0], [a] * 20)
    _mean_close(x[y == 1], [-a] * 20)
    _cov_close(x[y == 0], np.eye(20))
    _cov_close(x[y == 1], np.eye(20))


def test_threenorm_is_a_two_gaussian_mixture_against_an_alternating_gaussian() -> None:
    x, y = _sample("threenorm")
    a = 2 / math.sqrt(20)
    assert (y == 1).sum() == N // 2
    # class 0: N(a1, I) or N(-a1, I) with probability 1/2: mean 0, covariance I + a² 11^T
    _mean_close(x[y == 0], [0.0] * 20, sd=math.sqrt(1 + 20 * a**2))
    _cov_close(x[y == 0], np.eye(20) + a**2 * np.ones((20, 20)), scale=1.3)
    # the mixture's two components: the sign of the projection on 1 splits them
    side = x[y == 0].sum(axis=1) > 0
    assert abs(side.mean() - 0.5) < 5 * 0.5 / math.sqrt(side.size)
    _mean_close(x[y == 1], [a, -a] * 10)
    _cov_close(x[y == 1], np.eye(20))


def test_ringnorm_is_a_wide_gaussian_around_a_narrow_one() -> None:
    x, y = _sample("ringnorm")
    a = 1 / math.sqrt(20)
    assert (y == 1).sum() == N // 2
    _mean_close(x[y == 0], [0.0] * 20, sd=2.0)
    _cov_close(x[y == 0], 4 * np.eye(20), scale=4.0)
    _mean_close(x[y == 1], [a] * 20)
    _cov_close(x[y == 1], np.eye(20))


def _inside_cassini(u: np.ndarray, v: np.ndarray, a: float, c: float) -> np.ndarray:
    """Inside the Cassini oval ((u - c)² + v²)((u + c)² + v²) <= a⁴ (foci on the u axis)."""
    return ((u - c) ** 2 + v**2) * ((u + c) ** 2 + v**2) <= a**4 + 1e-12


def test_cassini_is_two_oval_bananas_and_a_disc() -> None:
    # relsize (2, 2, 1): round(2n/5), round(2n/5), round(n/5) rows in class order
    x, y = _sample("cassini", 1000)
    np.testing.assert_array_equal(np.bincount(y), [400, 400, 200])
    x, y = _sample("cassini")
    c_ell = math.sqrt((1 + 0.97**2) / 3)
    a_ell = c_ell * math.sqrt(2)
    for label, shift in ((0, 1.1), (1, -1.1)):
        u, v = x[y == label, 0], x[y == label, 1] + shift
        if label == 1:
            v = -v  # class 1 is class 0's region mirrored across the u axis
        # above the u axis: inside the oval a = 1, C = 0.97; below: inside a_ell, c_ell
        assert _inside_cassini(u[v >= 0], v[v >= 0], 1.0, 0.97).all()
        assert _inside_cassini(u[v < 0], v[v < 0], a_ell, c_ell).all()
        assert (v <= 0.6 + 1e-12).all() and (v >= -1.0 - 1e-12).all()  # mlbench's draw box
    disc = x[y == 2]
    assert (np.linalg.norm(disc, axis=1) < 0.6).all()
    # uniform on the disc: E r² = R²/2, mean 0
    assert abs(np.mean((disc**2).sum(axis=1)) - 0.18) < 5 * 0.18 / math.sqrt(3 * len(disc))
    _mean_close(disc, [0.0, 0.0], sd=0.3)


def test_2dnormals_are_gaussians_on_a_circle_of_radius_sqrt_cl() -> None:
    x, y = _sample("2dnormals")  # cl = 2, r = sqrt 2, sd = 1
    assert abs(y.mean() - 0.5) < 5 * 0.5 / math.sqrt(N)
    # means r (cos(π/4 + 2πe/cl), sin(...)): (1, 1) and (-1, -1)
    _mean_close(x[y == 0], [1.0, 1.0])
    _mean_close(x[y == 1], [-1.0, -1.0])
    _cov_close(x[y == 0], np.eye(2))
    x, y = GENERATORS["2dnormals"].make(N, 0.5, 7, cl=4)  # type: ignore[call-arg]
    assert set(y.tolist()) == {0, 1, 2, 3}
    _mean_close(x[y == 1], [2 * math.cos(3 * math.pi / 4), 2 * math.sin(3 * math.pi / 4)], 0.5)
    _cov_close(x[y == 1], 0.25 * np.eye(2), scale=0.25)


def test_smiley_has_two_eyes_a_nose_and_a_mouth() -> None:
    x, y = _sample("smiley", 1200)
    np.testing.assert_array_equal(np.bincount(y), [200, 200, 300, 500])  # n/6, n/6, n/4, rest
    x, y = _sample("smiley")
    _mean_close(x[y == 0], [-0.8, 1.0], sd=0.1)
    _mean_close(x[y == 1], [0.8, 1.0], sd=0.1)
    _cov_close(x[y == 0], 0.01 * np.eye(2), scale=0.01)
    nose = x[y == 2]  # (u (1 - v), v), u ~ U(-0.2, 0.2), v ~ U(0, 0.75)
    assert ((nose[:, 1] >= 0) & (nose[:, 1] <= 0.75)).all()
    assert (np.abs(nose[:, 0]) <= 0.2 * (1 - nose[:, 1]) + 1e-12).all()
    mouth = x[y == 3]  # (u, u² - 1 + N(0, 0.05²))
    assert (np.abs(mouth[:, 0]) <= 1).all()
    residual = mouth[:, 1] - (mouth[:, 0] ** 2 - 1)
    assert abs(residual.mean()) < 5 * 0.05 / math.sqrt(len(residual))
    assert abs(residual.std() - 0.05) < 5 * 0.05 / math.sqrt(2 * len(residual))


def test_shapes_are_a_gaussian_a_square_a_triangle_and_a_wave() -> None:
    x, y = _sample("shapes", 1001)
    np.testing.assert_array_equal(np.bincount(y), [250, 250, 250, 251])  # round(n/4), rest
    x, y = _sample("shapes")
    _mean_close(x[y == 0], [-1.0, 1.5], sd=0.2)
    _cov_close(x[y == 0], 0.04 * np.eye(2), scale=0.04)
    square = x[y == 1]
    assert (square[:, 0] >= -1.5).all() and (square[:, 0] <= -0.5).all()
    assert (square[:, 1] >= -2).all() and (square[:, 1] <= 0).all()
    triangle = x[y == 2]  # (u (2 - v) + 1, v): |x - 1| <= 2 - v, v in [1, 2]
    assert ((triangle[:, 1] >= 1) & (triangle[:, 1] <= 2)).all()
    assert (np.abs(triangle[:, 0] - 1) <= 2 - triangle[:, 1] + 1e-12).all()
    wave = x[y == 3]  # (u, cos 4u - u + U(-0.2, 0.2)), u ~ U(0.5, 2)
    assert ((wave[:, 0] >= 0.5) & (wave[:, 0] <= 2)).all()
    off = wave[:, 1] - (np.cos(4 * wave[:, 0]) - wave[:, 0])
    assert (np.abs(off) <= 0.2).all()
    assert abs(off.std() - 0.4 / math.sqrt(12)) < 0.005  # U(-0.2, 0.2) has sd 0.4/sqrt(12)


def test_hypercube_puts_a_gaussian_at_every_corner() -> None:
    x, y = _sample("hypercube", 803)
    np.testing.assert_array_equal(np.bincount(y), [101, 101, 101, 100, 100, 100, 100, 100])
    x, y = _sample("hypercube")
    for label in range(8):
        # mlbench's hypercube(3): row k + 1 is k in binary, most significant digit first
        corner = [(label >> 2) & 1, (label >> 1) & 1, label & 1]
        _mean_close(x[y == label], corner, sd=0.1)
        _cov_close(x[y == label], 0.01 * np.eye(3), scale=0.01)


@pytest.mark.parametrize("name", ["circle", "xor", "twonorm", "shapes"])
def test_noise_on_a_set_mlbench_draws_without_noise_is_added_to_the_features(name: str) -> None:
    clean_x, clean_y = GENERATORS[name].make(N, 0.0, 7)
    noisy_x, noisy_y = GENERATORS[name].make(N, 0.3, 7)
    np.testing.assert_array_equal(clean_y, noisy_y)  # labels from the clean points
    np.testing.assert_array_equal(clean_x, GENERATORS[name].make(N, 0.0, 7)[0])
    moved = noisy_x - clean_x
    _mean_close(moved, [0.0] * moved.shape[1], sd=0.3)
    _cov_close(moved, 0.09 * np.eye(moved.shape[1]), scale=0.09)
