"""The reference engine reproduces the exercise's own training code, curve for curve."""

from __future__ import annotations

import pytest
import torch

from exercise_loop import train_valid
from optiscope.data import make_dataset
from optiscope.engine import train_reference
from optiscope.models import build_mlp
from optiscope.records import RunConfig

DATA = make_dataset()  # the exercise's friedman3, 700 train / 300 valid

# One or two configs from each of the exercise's five sweeps; bs 16 leaves a last batch of
# 12 rows (700 = 43 * 16 + 12), bs 64 one of 60 and bs 32 one of 28.
CASES = [
    {"lr": 1.0},
    {"lr": 0.001},
    {"batch_size": 2},
    {"batch_size": 64},
    {"batch_size": 32},
    {"weight_decay": 0.5},
    {"weight_decay": 0.03125},
    {"beta1": 0.5},
    {"beta1": 0.999},
    {"beta2": 0.99},
    {"beta2": 0.9999},
]
EPOCHS = 3


def _settings(case: dict) -> dict:
    settings = {"batch_size": 16, "lr": 0.01, "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999}
    return {**settings, **case}


def _config(settings: dict, metric: str) -> RunConfig:
    return RunConfig(
        hparams={
            "lr": settings["lr"],
            "betas": (settings["beta1"], settings["beta2"]),
            "weight_decay": settings["weight_decay"],
        },
        batch_size=settings["batch_size"],
        epochs=EPOCHS,
        seed=123,
        metric=metric,
    )


@pytest.mark.parametrize("metric", ["batch_rmse", "rmse"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_reference_engine_equals_the_exercise_loop(case: dict, metric: str) -> None:
    settings = _settings(case)
    expected, _network = train_valid(
        seed=123,
        data=DATA,
        epochs=EPOCHS,
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        betas=(settings["beta1"], settings["beta2"]),
        weight_decay=settings["weight_decay"],
        metric=metric,
    )
    record = train_reference(_config(settings, metric), DATA)
    assert record.status == "done"
    # The same ops in the same order: the curve is the exercise's to the last bit (README).
    assert record.curve.valid_loss == tuple(expected)


def test_reference_engine_final_weights_equal_the_exercise_loop() -> None:
    settings = _settings({"batch_size": 16})
    _, network = train_valid(123, DATA, 2, 16, 0.01, (0.9, 0.999), 0.01)
    config = _config(settings, "rmse").replace(epochs=2)
    model = build_mlp(DATA.n_features, seed=123)
    train_reference(config, DATA, model_factory=lambda: model)
    for ours, theirs in zip(model.parameters(), network.parameters(), strict=True):
        assert torch.equal(ours, theirs)


def test_counters_follow_batches_and_samples() -> None:
    record = train_reference(_config(_settings({"batch_size": 64}), "rmse"), DATA)
    steps_per_epoch = -(-DATA.n_train // 64)  # ceil: the last partial batch is a step
    assert record.curve.step == tuple(steps_per_epoch * e for e in range(1, EPOCHS + 1))
    assert record.curve.samples == tuple(DATA.n_train * e for e in range(1, EPOCHS + 1))
    assert list(record.curve.seconds) == sorted(record.curve.seconds)


def test_any_module_and_any_torch_optimizer() -> None:
    def model_factory() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    config = RunConfig(optimizer="sgd", hparams={"lr": 1e-6}, epochs=2)
    record = train_reference(
        config,
        DATA,
        model_factory=model_factory,
        optimizer_factory=lambda params: torch.optim.RMSprop(params, lr=1e-3),
    )
    assert record.status == "done"
    # The same module/optimizer trained by hand gives the same curve.
    model = model_factory()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    for _ in range(2):
        for first in range(0, DATA.n_train, 16):
            opt.zero_grad()
            xb, yb = DATA.X_train[first : first + 16], DATA.y_train[first : first + 16]
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        rmse = torch.sqrt(torch.nn.functional.mse_loss(model(DATA.X_valid), DATA.y_valid)).item()
    assert record.curve.valid_loss[-1] == rmse


def test_shuffle_is_seeded_and_changes_the_order() -> None:
    config = _config(_settings({}), "rmse").replace(shuffle=True, epochs=2)
    first = train_reference(config, DATA)
    again = train_reference(config, DATA)
    plain = train_reference(config.replace(shuffle=False), DATA)
    assert first.curve.valid_loss == again.curve.valid_loss
    assert first.curve.valid_loss != plain.curve.valid_loss


def test_a_diverging_run_stops_with_its_epoch() -> None:
    config = _config(_settings({"lr": 1e30}), "rmse")
    record = train_reference(config, DATA)
    assert record.status == "diverged"
    assert record.diverged_epoch == len(record.curve.epoch)
    assert (
        record.diverged_epoch < EPOCHS or record.curve.valid_loss[-1] != record.curve.valid_loss[-1]
    )
