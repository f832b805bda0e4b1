"""Data generators follow mlbench's definitions; splits are seeded; bad data is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope.data import GENERATORS, Dataset, friedman1, friedman2, friedman3, make_dataset, peak
from optiscope.errors import ConfigError, DataError
from optiscope.records import DataSpec


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic_for_a_seed(name: str) -> None:
    make = GENERATORS[name].make
    X1, y1 = make(50, 0.3, 7)
    X2, y2 = make(50, 0.3, 7)
    X3, _ = make(50, 0.3, 8)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert X1.shape == (50, GENERATORS[name].n_features) and y1.shape == (50,)


def test_friedman_targets_follow_their_formulas_without_noise() -> None:
    X, y = friedman1(200, sd=0.0, seed=1)
    expected = (
        10 * np.sin(np.pi * X[:, 0] * X[:, 1])
        + 20 * (X[:, 2] - 0.5) ** 2
        + 10 * X[:, 3]
        + 5 * X[:, 4]
    )
    np.testing.assert_allclose(y, expected)
    X, y = friedman2(200, sd=0.0, seed=1)
    inner = X[:, 1] * X[:, 2] - 1 / (X[:, 1] * X[:, 3])
    np.testing.assert_allclose(y, np.sqrt(X[:, 0] ** 2 + inner**2))
    X, y = friedman3(200, sd=0.0, seed=1)
    inner = X[:, 1] * X[:, 2] - 1 / (X[:, 1] * X[:, 3])
    np.testing.assert_allclose(y, np.arctan(inner / X[:, 0]))


def test_friedman23_inputs_lie_in_mlbench_ranges() -> None:
    X, _ = friedman3(5000, seed=3)
    lows, highs = [0, 40 * np.pi, 0, 1], [100, 560 * np.pi, 1, 11]
    assert np.all(X.min(axis=0) >= lows) and np.all(X.max(axis=0) <= highs)


def test_noise_has_the_requested_sd() -> None:
    _X, y_noisy = friedman3(20000, sd=0.1, seed=4)
    _, y_clean = friedman3(20000, sd=0.0, seed=4)
    # Same inputs: the noise is drawn after the inputs.
    assert np.std(y_noisy - y_clean) == pytest.approx(0.1, rel=0.03)


def test_peak_points_lie_in_the_ball_and_target_depends_on_radius() -> None:
    X, y = peak(500, seed=2)
    radius = np.linalg.norm(X, axis=1)
    assert radius.max() <= 3.0
    np.testing.assert_allclose(y, 25 * np.exp(-0.5 * radius**2))


def test_the_exercise_preset_is_700_300_friedman3() -> None:
    data = make_dataset()
    assert (data.n_train, data.n_valid, data.n_features) == (700, 300, 4)
    assert data.X_train.dtype == torch.float32 and data.y_train.shape == (700, 1)
    again = make_dataset(DataSpec())
    assert torch.equal(data.X_valid, again.X_valid)
    other = make_dataset(DataSpec(seed=1))
    assert not torch.equal(data.X_train, other.X_train)


def test_split_uses_every_sample_once() -> None:
    spec = DataSpec(n=100, sd=0.0)
    data = make_dataset(spec)
    X, _ = friedman3(100, sd=0.0, seed=0)
    rows = torch.cat([data.X_train, data.X_valid]).double().numpy()
    assert sorted(map(tuple, np.round(rows, 2))) == sorted(map(tuple, np.round(X, 2)))


def test_standardize_uses_training_statistics() -> None:
    data = make_dataset(DataSpec(standardize=True))
    assert torch.allclose(data.X_train.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(data.X_train.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    assert abs(float(data.y_train.mean())) < 1e-5
    assert abs(float(data.X_valid.mean())) > 1e-4  # validation is transformed, not refit


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (DataSpec(name="friedman9"), "unknown dataset 'friedman9'"),
        (DataSpec(n=1), "`n` = 1"),
        (DataSpec(sd=-1.0), "`sd` = -1.0"),
        (DataSpec(train_fraction=1.0), "train_fraction"),
        (DataSpec(n=2, train_fraction=0.1), "empty split"),
    ],
)
def test_bad_specs_are_refused(spec: DataSpec, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_dataset(spec)


def test_user_arrays_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    from_numpy = Dataset.from_arrays(X[:20], y[:20], X[20:], y[20:])
    from_torch = Dataset.from_arrays(
        torch.tensor(X[:20]), torch.tensor(y[:20, None]), torch.tensor(X[20:]), y[20:].tolist()
    )
    assert from_numpy.spec.name == "custom"
    assert from_numpy.spec.fingerprint == from_torch.spec.fingerprint
    assert torch.equal(from_numpy.X_train, from_torch.X_train)
    assert from_numpy.y_valid.shape == (10, 1)
    changed = Dataset.from_arrays(X[:20], y[:20] + 1, X[20:], y[20:])
    assert changed.spec.fingerprint != from_numpy.spec.fingerprint


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ((np.ones(5), np.ones(5), np.ones((2, 1)), np.ones(2)), "X_train has shape \\(5,\\)"),
        ((np.ones((5, 2)), np.ones(4), np.ones((2, 2)), np.ones(2)), "5 rows but y_train has 4"),
        ((np.ones((5, 2)), np.ones(5), np.ones((2, 3)), np.ones(2)), "same features"),
        ((np.ones((5, 2)), np.ones(5), np.ones((0, 2)), np.ones(0)), "valid split is empty"),
        ((np.ones((5, 2)), np.ones((5, 2)), np.ones((2, 2)), np.ones(2)), "y_train has shape"),
        ((np.full((5, 2), np.nan), np.ones(5), np.ones((2, 2)), np.ones(2)), "NaN or inf"),
        ((np.ones((5, 2)), ["a"] * 5, np.ones((2, 2)), np.ones(2)), "could not be read"),
        ((np.ones((5, 0)), np.ones(5), np.ones((2, 0)), np.ones(2)), "no features"),
    ],
)
def test_bad_user_arrays_give_clear_errors(arrays: tuple, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Dataset.from_arrays(*arrays)
