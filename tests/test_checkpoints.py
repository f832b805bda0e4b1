"""Per-epoch checkpoints: training resumed from one gives the uninterrupted run's numbers.

Each test trains configs once without interruption, then again with a checkpoint taken at
every epoch, and resumes from the checkpoint of an epoch in the middle, with the configs
grouped differently than when the checkpoint was taken (a resumed sweep regroups what is
left). Curves are compared with ``==`` on the float tuples (wall-clock seconds aside), and
the final parameters with ``torch.equal``: "close" does not exist in chaotic training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from optiscope.data import make_dataset
from optiscope.engine import EVERY_EPOCH, Checkpoint, CheckpointPolicy, train_reference
from optiscope.engine._vectorized import VectorizedTrainer, train_vectorized
from optiscope.models import build_mlp
from optiscope.records import DataSpec, RunConfig, RunRecord, ScheduleSpec

SPEC = DataSpec(n=240)
DATA = make_dataset(SPEC)
EPOCHS = 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(optimizer: str = "adamw", seed: int = 1, shuffle: bool = True,  # type: ignore[no-untyped-def]
            schedule: ScheduleSpec | None = None, **hparams: Any):  # fmt: skip
    return RunConfig(
        schedule=schedule or ScheduleSpec(),
        optimizer=optimizer,
        hparams=hparams,
        batch_size=16,
        epochs=EPOCHS,
        seed=seed,
        hidden=(8, 8),
        data=SPEC,
        shuffle=shuffle,
    )


def _numbers(record: RunRecord) -> tuple[Any, ...]:
    """Everything but the wall-clock seconds."""
    c = record.curve
    return (record.status, record.diverged_epoch, c.epoch, c.step, c.samples,
            c.valid_loss, c.train_loss, c.lr)  # fmt: skip


def _taken(configs: Sequence[RunConfig]) -> tuple[list[RunRecord], dict[int, list[Checkpoint]]]:
    """Train with a checkpoint every epoch; by epoch, the checkpoints in config order."""
    taken: dict[int, dict[int, Checkpoint]] = {}

    def keep(checkpoints: dict[int, Checkpoint]) -> None:
        (epoch,) = {c.epoch for c in checkpoints.values()}
        taken[epoch] = checkpoints

    records = train_vectorized(configs, DATA, on_checkpoint=keep, checkpoints=EVERY_EPOCH)
    return records, {e: [by[i] for i in sorted(by)] for e, by in taken.items()}


# Groups whose optimizer state differs by config: momentum in some configs only (SGD makes
# its buffer at the first step), centred RMSprop beside plain, shuffled and ordered data.
PAIRS = [(a, b) for a in (0, 1) for b in (0, 1)]
GROUPS = {
    "adamw": [_config(lr=(0.03, 0.003)[a], weight_decay=0.1 * b, seed=1 + b) for a, b in PAIRS],
    "sgd": [
        _config("sgd", lr=0.05, momentum=0.9 * a, nesterov=a == 1, seed=1 + b) for a, b in PAIRS
    ],
    "rmsprop": [_config("rmsprop", lr=0.003, centered=a == 1, momentum=0.5 * b) for a, b in PAIRS],
    "adagrad-ordered": [_config("adagrad", lr=0.05, shuffle=False, seed=s) for s in (1, 2, 3)],
    # lrs read per step from the step count the checkpoint restores
    "scheduled": [
        _config(lr=0.01, schedule=ScheduleSpec("cosine", warmup=5)),
        _config(lr=0.01, schedule=ScheduleSpec("step", step_size=1, gamma=0.5)),
        _config(lr=0.03, schedule=ScheduleSpec("onecycle")),
        _config(lr=0.01),
    ],
}

SCHEDULED = [ScheduleSpec("cosine", warmup=5), ScheduleSpec("step", step_size=1, gamma=0.5),
             ScheduleSpec("onecycle")]  # fmt: skip


@pytest.mark.parametrize("name", list(GROUPS))
def test_vectorized_resume_regrouped_equals_an_uninterrupted_run(name: str) -> None:
    configs = GROUPS[name]
    whole = train_vectorized(configs, DATA)
    records, checkpoints = _taken(configs)
    assert [_numbers(r) for r in records] == [_numbers(r) for r in whole]
    assert sorted(checkpoints) == list(range(1, EPOCHS))  # none after the last epoch
    resumed: list[RunRecord] = []
    halves = [slice(0, 1), slice(1, None)]  # one config alone, the rest as a group
    for part in halves:
        resumed += train_vectorized(configs[part], DATA, resume=checkpoints[2][part])
    assert [_numbers(r) for r in resumed] == [_numbers(r) for r in whole]


def test_vectorized_resume_gives_the_same_final_weights() -> None:
    configs = GROUPS["sgd"]
    plain = VectorizedTrainer(configs, DATA)
    plain.run()
    _, checkpoints = _taken(configs)
    resumed = VectorizedTrainer(configs[::-1], DATA, resume=checkpoints[1][::-1])
    resumed.run()
    assert torch.equal(plain.params, resumed.params.flip(0))


def test_a_resumed_curve_keeps_the_seconds_already_trained() -> None:
    configs = GROUPS["adamw"][:2]
    _, checkpoints = _taken(configs)
    records = train_vectorized(configs, DATA, resume=checkpoints[3])
    for record, checkpoint in zip(records, checkpoints[3], strict=True):
        assert record.curve.seconds[:3] == checkpoint.curve.seconds
        assert record.curve.seconds[3] >= checkpoint.curve.seconds[-1]


@pytest.mark.parametrize(
    ("optimizer", "schedule"),
    [("adamw", None), ("sgd", None), ("nadam", None)]
    + [("adamw", schedule) for schedule in SCHEDULED],
)
def test_reference_resume_equals_an_uninterrupted_run(
    optimizer: str, schedule: ScheduleSpec | None
) -> None:
    """With a schedule, the resumed run replays the scheduler's steps (the same floats)."""
    hparams = {"lr": 0.01, "momentum": 0.9} if optimizer == "sgd" else {"lr": 0.01}
    config = _config("adamw" if optimizer == "nadam" else optimizer, schedule=schedule, **hparams)
    factory = (lambda p: torch.optim.NAdam(p, lr=0.01)) if optimizer == "nadam" else None
    whole = train_reference(config, DATA, optimizer_factory=factory)
    taken: list[Checkpoint] = []
    again = train_reference(
        config, DATA, optimizer_factory=factory, on_checkpoint=taken.append,
        checkpoints=EVERY_EPOCH,
    )  # fmt: skip
    assert _numbers(again) == _numbers(whole)
    assert [c.epoch for c in taken] == list(range(1, EPOCHS))
    model = build_mlp(DATA.n_features, config.hidden, config.activation, config.seed)
    resumed = train_reference(
        config, DATA, model_factory=lambda: model, optimizer_factory=factory, resume=taken[1]
    )
    assert _numbers(resumed) == _numbers(whole)
    ours = build_mlp(DATA.n_features, config.hidden, config.activation, config.seed)
    train_reference(config, DATA, model_factory=lambda: ours, optimizer_factory=factory)
    pairs = zip(model.parameters(), ours.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_diverged_configs_get_no_checkpoint_after_they_diverge() -> None:
    configs = [_config(lr=1e6, seed=1), _config(lr=0.01, seed=1)]
    records, checkpoints = _taken(configs)
    assert records[0].status == "diverged" and records[1].status == "done"
    assert records[0].diverged_epoch is not None
    for epoch, found in checkpoints.items():
        expected = 1 if epoch >= records[0].diverged_epoch else 2
        assert len(found) == expected
        assert all(np.isfinite(c.curve.train_loss).all() for c in found)


def test_a_checkpoint_round_trips_through_bytes() -> None:
    _, checkpoints = _taken(GROUPS["sgd"][2:3])
    checkpoint = checkpoints[2][0]
    again = Checkpoint.from_bytes(checkpoint.to_bytes())
    assert (again.engine, again.epoch, again.curve) == (
        checkpoint.engine,
        checkpoint.epoch,
        checkpoint.curve,
    )
    assert again.scalars == checkpoint.scalars
    assert set(again.arrays) == set(checkpoint.arrays) == {"params", "optim.momentum_buffer.0"}
    for name, array in checkpoint.arrays.items():
        assert again.arrays[name].dtype == array.dtype
        assert np.array_equal(again.arrays[name], array)
    with pytest.raises(ValueError, match="not a checkpoint"):
        Checkpoint.from_bytes(b"PK\x03\x04" + bytes(20))


def test_a_checkpoint_of_another_network_is_refused() -> None:
    _, checkpoints = _taken(GROUPS["adamw"][:1])
    other = RunConfig(hparams={"lr": 0.03}, epochs=EPOCHS, hidden=(4,), data=SPEC)
    with pytest.raises(ValueError, match="parameter row"):
        VectorizedTrainer([other], DATA, resume=checkpoints[1])


def test_no_checkpoint_is_taken_before_the_policy_allows_it() -> None:
    taken: list[Checkpoint] = []
    never = CheckpointPolicy(min_seconds=float("inf"))
    train_vectorized(GROUPS["adamw"][:2], DATA, on_checkpoint=lambda c: taken.append(c[0]),
                     checkpoints=never)  # fmt: skip
    assert taken == []
