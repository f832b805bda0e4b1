"""The vectorized engine reproduces the reference engine bit for bit: curves and final weights.

Every test trains the same configs twice, stacked (``VectorizedTrainer``) and one by one
(``train_reference``, the plain PyTorch loop, itself checked against the exercise's code in
test_reference_parity.py), and asserts equality: curves exactly (NaN equal to NaN, no
tolerance) and every final parameter with ``assert_close(rtol=0, atol=0)``. Fewer epochs than
the exercise's 30 are enough: training is chaotic here, so a single differing bit early on
grows into a visible difference within an epoch.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch

from optiscope.data import Dataset, make_dataset
from optiscope.engine import train_reference
from optiscope.engine._vectorized import VectorizedTrainer, lockstep_key, train_vectorized
from optiscope.models import build_mlp
from optiscope.records import DataSpec, RunConfig, RunRecord, ScheduleSpec

DATA = make_dataset()  # the exercise's friedman3: 700 train / 300 valid rows

# 701 training rows: every batch size of the exercise leaves a last partial batch (1 row at
# batch size 2 and 4, 5 rows at 8, 13 at 16, 29 at 32, 61 at 64).
_ODD = make_dataset(DataSpec(n=1001, train_fraction=0.7003))
ODD_DATA = Dataset.from_arrays(_ODD.X_train, _ODD.y_train, _ODD.X_valid, _ODD.y_valid)
# 350 standardized rows: 22 steps at bs 16, and no config of the schedule tests diverges
SMALL_SPEC = DataSpec(n=1000, train_fraction=0.35, standardize=True)
SMALL = make_dataset(SMALL_SPEC)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """One intra-op thread, as the engine's backends use: these tensors are too small to gain
    from more, and two spinning OpenMP threads on a busy 2-core machine slow a run 50-fold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(
    *,
    lr: float = 0.01,
    weight_decay: float = 0.01,
    beta1: float = 0.9,
    beta2: float = 0.999,
    **fields: Any,
) -> RunConfig:
    """The exercise's defaults (AdamW, bs 16, seed 123) with some settings changed."""
    values: dict[str, Any] = {"batch_size": 16, "epochs": 2, "seed": 123, **fields}
    hparams = {"lr": lr, "betas": (beta1, beta2), "weight_decay": weight_decay}
    return RunConfig(hparams=values.pop("hparams", hparams), **values)


def _reference(config: RunConfig, data: Dataset) -> tuple[RunRecord, dict[str, torch.Tensor]]:
    model = build_mlp(data.n_features, config.hidden, config.activation, config.seed)
    record = train_reference(config, data, model_factory=lambda: model)
    return record, model.state_dict()


def _same_numbers(ours: tuple[float, ...], theirs: tuple[float, ...]) -> bool:
    """Equal, with NaN equal to NaN (a diverged run's last epoch)."""
    return len(ours) == len(theirs) and all(
        a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(ours, theirs, strict=True)
    )


def _max_difference(ours: tuple[float, ...], theirs: tuple[float, ...]) -> float:
    pairs = [(a, b) for a, b in zip(ours, theirs, strict=False) if math.isfinite(a + b)]
    return max((abs(a - b) for a, b in pairs), default=0.0)


def assert_parity(configs: list[RunConfig], data: Dataset = DATA) -> list[RunRecord]:
    """Train ``configs`` stacked and one by one; everything must be equal."""
    trainer = VectorizedTrainer(configs, data)
    records = trainer.run()
    assert [r.config for r in records] == configs
    for config, record, weights in zip(configs, records, trainer.state_dicts(), strict=True):
        expected, expected_weights = _reference(config, data)
        where = f"{config.to_json()}"
        assert record.engine == "vectorized"
        assert (record.status, record.diverged_epoch) == (
            expected.status,
            expected.diverged_epoch,
        ), where
        ours, theirs = record.curve, expected.curve
        assert (ours.epoch, ours.step, ours.samples) == (
            theirs.epoch,
            theirs.step,
            theirs.samples,
        ), where
        assert ours.lr == theirs.lr and len(ours.lr) == len(ours), where  # the lr each used
        for name in ("valid_loss", "train_loss"):
            mine, reference = getattr(ours, name), getattr(theirs, name)
            assert _same_numbers(mine, reference), (
                f"{name} of {where} differs by {_max_difference(mine, reference):.3g}"
            )
        for key, value in expected_weights.items():
            torch.testing.assert_close(
                weights[key], value, rtol=0, atol=0, equal_nan=True, msg=f"{key} of {where}"
            )
    return records


@pytest.mark.slow
def test_a_grid_of_48_configs_from_the_five_sweeps() -> None:
    """lr x weight decay x beta1 x beta2 from the exercise's sweeps, one stacked group."""
    configs = [
        _config(lr=lr, weight_decay=wd, beta1=b1, beta2=b2)
        for lr, wd, b1, b2 in itertools.product(
            (1.0, 0.1, 0.01, 0.001), (0.5, 0.03125), (0.5, 0.9, 0.999), (0.99, 0.9999)
        )
    ]
    assert len(configs) == 48
    assert len({lockstep_key(c) for c in configs}) == 1
    assert_parity(configs)


@pytest.mark.parametrize("batch_size", [2, 4, 8, 16, 32, 64])
def test_every_batch_size_of_the_batch_size_sweep(batch_size: int) -> None:
    """Two seeds and two learning rates per batch size; 700 rows leave partial last batches
    of 4 (bs 8), 12 (bs 16), 28 (bs 32) and 60 (bs 64)."""
    configs = [
        _config(batch_size=batch_size, lr=lr, seed=seed, epochs=1 if batch_size < 8 else 2)
        for lr, seed in ((0.01, 123), (0.1, 7))
    ]
    assert_parity(configs)


@pytest.mark.parametrize("batch_size", [2, 4, 5, 8, 16, 64])
def test_a_last_partial_batch_of_every_size(batch_size: int) -> None:
    """701 rows: a last batch of 1 row (bs 2, 4), 5 (bs 8), 13 (bs 16), 61 (bs 64)."""
    configs = [_config(batch_size=batch_size, epochs=1, seed=s) for s in (123, 5, 6)]
    assert_parity(configs, ODD_DATA)


def test_seeds_vectorize_like_configs() -> None:
    """K = configs x seeds: the same settings under 4 seeds, mixed with other settings."""
    configs = [_config(lr=lr, seed=seed) for lr in (0.1, 0.01) for seed in (0, 1, 2, 123)]
    assert_parity(configs)


def test_both_metrics_in_one_group() -> None:
    """The true RMSE and the exercise's mean of per-batch RMSEs (bs 16: 19 batches of 300)."""
    configs = [
        _config(lr=lr, metric=metric) for lr in (0.1, 0.01) for metric in ("rmse", "batch_rmse")
    ]
    records = assert_parity(configs)
    assert records[0].curve.valid_loss != records[1].curve.valid_loss


@pytest.mark.parametrize("batch_size", [5, 16])
def test_shuffling_gathers_each_configs_own_order(batch_size: int) -> None:
    """Each seed draws its own permutation each epoch, exactly as the reference does."""
    configs = [_config(batch_size=batch_size, shuffle=True, seed=s) for s in (1, 2, 3, 3)]
    assert_parity(configs)


def test_a_diverging_config_stops_alone() -> None:
    """lr = 1e4 blows up; its curve ends at that epoch, the others train on."""
    configs = [_config(lr=1e4, epochs=3), _config(epochs=3), _config(lr=1e30, epochs=3)]
    records = assert_parity(configs)
    assert [r.status for r in records] == ["diverged", "done", "diverged"]
    assert len(records[1].curve) == 3


@pytest.mark.parametrize(
    "hparams",
    [
        {"lr": 0.01, "betas": (0.9, 0.999), "weight_decay": 0.0},
        {"lr": 0.003, "betas": (0.5, 0.99), "weight_decay": 0.1},
    ],
)
def test_adam(hparams: dict[str, Any]) -> None:
    other = {**hparams, "lr": 0.05}
    assert_parity([_config(optimizer="adam", hparams=h) for h in (hparams, other)])


def test_sgd_with_momentum_dampening_and_nesterov() -> None:
    grid = [
        {"lr": 0.001},
        {"lr": 0.001, "momentum": 0.9},
        {"lr": 0.001, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.01},
        {"lr": 0.0005, "momentum": 0.8, "nesterov": True},
    ]
    assert_parity([_config(optimizer="sgd", hparams=h) for h in grid])


def test_rmsprop_plain_centered_with_momentum_and_decay_in_one_group() -> None:
    """Configs that take different branches of torch's step (centered or not, momentum or
    not) share one stacked update; each equals its own torch.optim.RMSprop run."""
    grid = [
        {"lr": 0.001},
        {"lr": 0.003, "alpha": 0.9, "centered": True},
        {"lr": 0.0005, "momentum": 0.9},
        {"lr": 0.001, "momentum": 0.5, "centered": True, "weight_decay": 0.01, "eps": 1e-6},
    ]
    assert_parity([_config(optimizer="rmsprop", hparams=h) for h in grid])


def test_adagrad_with_lr_decay_decay_and_a_starting_sum() -> None:
    grid = [
        {"lr": 0.05},
        {"lr": 0.1, "lr_decay": 0.01},
        {"lr": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
        {"lr": 0.02, "eps": 1e-6, "lr_decay": 0.001},
    ]
    assert_parity([_config(optimizer="adagrad", hparams=h) for h in grid])


@pytest.mark.parametrize(
    ("optimizer", "grid"),
    [
        ("nadam", [
            {"lr": 0.002},
            {"lr": 0.004, "betas": (0.8, 0.99), "momentum_decay": 0.01},
            {"lr": 0.002, "weight_decay": 0.01},
            {"lr": 0.002, "weight_decay": 0.1, "decoupled_weight_decay": True},
        ]),
        ("radam", [
            {"lr": 0.001},
            {"lr": 0.003, "betas": (0.9, 0.9)},  # rectified from its third step
            {"lr": 0.001, "weight_decay": 0.01},
            {"lr": 0.001, "weight_decay": 0.1, "decoupled_weight_decay": True},
        ]),
        ("adamax", [
            {"lr": 0.002},
            {"lr": 0.004, "betas": (0.8, 0.99), "eps": 1e-6},
            {"lr": 0.002, "weight_decay": 0.01},
        ]),
    ],
)  # fmt: skip
def test_nadam_radam_and_adamax(optimizer: str, grid: list[dict[str, Any]]) -> None:
    """Each group mixes L2 and decoupled decay (NAdam, RAdam), and RAdam configs on either
    side of its rectification threshold at the same step. RAdam trains on standardized data:
    its first steps are plain momentum SGD, which diverges on raw friedman3 at these lrs
    (as torch's does; a diverged config's weights go on changing in a group, so they are not
    compared)."""
    spec = DataSpec(standardize=optimizer == "radam")
    data = make_dataset(spec)
    assert_parity([_config(optimizer=optimizer, hparams=h, data=spec) for h in grid], data)
    assert_parity([_config(optimizer=optimizer, hparams=grid[0], data=spec)], data)  # K = 1


# Every schedule, with settings that act within 2 epochs of 44 steps: torch's schedulers in
# the reference loop, their values computed without torch in the vectorized engine.
SCHEDULES = [
    ScheduleSpec("constant"),
    ScheduleSpec("step", step_size=1, gamma=0.5),
    ScheduleSpec("multistep", milestones=(1,), gamma=0.2),
    ScheduleSpec("exponential", gamma=0.7),
    ScheduleSpec("cosine", eta_min=1e-4),
    ScheduleSpec("cosine", warmup=20, warmup_start=0.1),
    ScheduleSpec("linear", warmup=10),
    ScheduleSpec("onecycle", pct_start=0.25),
]


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "nadam"])
def test_every_lr_schedule_in_one_group(optimizer: str) -> None:
    """Configs with different schedules (and two lrs sharing one) train as one group; each
    equals the plain loop with torch's scheduler, lrs and curves."""
    hparams = {"momentum": 0.9, "nesterov": True} if optimizer == "sgd" else {}
    configs = [
        _config(
            optimizer=optimizer,
            hparams={**hparams, "lr": lr},
            schedule=schedule,
            data=SMALL_SPEC,
        )
        for schedule in SCHEDULES
        for lr in (0.01, 0.003)
    ]
    records = assert_parity(configs, SMALL)
    assert all(r.status == "done" for r in records)
    assert len({r.curve.lr for r in records}) == len(configs)  # each its own lrs


def test_one_scheduled_config_is_the_plain_run() -> None:
    """K = 1: the per-step lr is one Python scalar, as torch passes it."""
    assert_parity([_config(schedule=ScheduleSpec("onecycle"), data=SMALL_SPEC)], SMALL)


def test_one_rmsprop_and_one_adagrad_config_are_the_plain_runs() -> None:
    """K = 1: every constant is shared, so the scalar forms of the updates run."""
    assert_parity([_config(optimizer="rmsprop", hparams={"lr": 0.001, "momentum": 0.9})])
    assert_parity([_config(optimizer="adagrad", hparams={"lr": 0.05, "lr_decay": 0.01})])


@pytest.mark.parametrize(
    ("activation", "hidden"),
    [("tanh", (16, 8)), ("gelu", (12,)), ("sigmoid", (8, 8, 8)), ("relu", ())],
)
def test_other_networks(activation: str, hidden: tuple[int, ...]) -> None:
    configs = [
        _config(activation=activation, hidden=hidden, lr=lr, batch_size=bs)
        for lr, bs in ((0.01, 16), (0.003, 16))
    ]
    assert_parity(configs)


def test_one_config_is_the_plain_run() -> None:
    assert_parity([_config(batch_size=4, epochs=1)])


def test_train_vectorized_returns_records_in_order() -> None:
    configs = [_config(lr=lr, epochs=1) for lr in (0.1, 0.01, 0.001)]
    records = train_vectorized(configs, DATA)
    assert [r.config for r in records] == configs
    assert all(r.engine == "vectorized" and r.status == "done" for r in records)
    assert all(list(r.curve.seconds) == sorted(r.curve.seconds) for r in records)


def test_training_uses_one_intra_op_thread_and_restores_the_setting() -> None:
    """With several threads, element-wise kernels split buffers at points that need not
    fall between configs; training always runs on one, whatever the caller set."""
    seen: list[int] = []
    torch.set_num_threads(2)
    try:
        train_vectorized(
            [_config(epochs=1)], on_epoch=lambda *_: seen.append(torch.get_num_threads())
        )
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_configs_that_cannot_share_a_step_are_refused() -> None:
    from optiscope.errors import ConfigError

    with pytest.raises(ConfigError, match="lockstep"):
        VectorizedTrainer([_config(), _config(batch_size=8)], DATA)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is present")
def test_cuda_matches_the_reference_on_cuda() -> None:
    """On a GPU the stacked kernels are checked against cuBLAS's plain ones the same way."""
    configs = [_config(lr=lr, epochs=1) for lr in (0.1, 0.01)]
    records = VectorizedTrainer(configs, DATA, device="cuda").run()
    for config, record in zip(configs, records, strict=True):
        expected = train_reference(config, DATA, device="cuda")
        assert _same_numbers(record.curve.valid_loss, expected.curve.valid_loss)
