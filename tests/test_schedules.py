"""lr schedules: the values the vectorized engine reads equal torch's schedulers, bit for bit.

The reference is ``torch.optim.lr_scheduler`` itself, driven as a training loop drives it:
``optimizer.step()`` then ``scheduler.step()``, after every optimizer step for per-step
schedules and after every epoch for per-epoch ones; the lr of each step is read from
``group["lr"]`` just before the optimizer steps.
"""

from __future__ import annotations

import math

import pytest
import torch

from optiscope.errors import ConfigError
from optiscope.optim import make_torch_scheduler, schedule_problem, scheduled_lrs
from optiscope.records import RunConfig, ScheduleSpec
from optiscope.settings import SCHEDULES, SETTINGS

SPECS = [
    ScheduleSpec("constant"),
    ScheduleSpec("step", step_size=3, gamma=0.5),
    ScheduleSpec("step", step_size=1, gamma=0.3),
    ScheduleSpec("multistep", milestones=(2, 5, 5), gamma=0.7),  # a repeated milestone: gamma**2
    ScheduleSpec("multistep"),
    ScheduleSpec("exponential", gamma=0.93),
    ScheduleSpec("cosine"),
    ScheduleSpec("cosine", warmup=7, eta_min=1e-4),
    ScheduleSpec("cosine", warmup=1, warmup_start=0.3, eta_min=3e-5),
    ScheduleSpec("linear"),
    ScheduleSpec("linear", warmup=13, warmup_start=0.1),
    ScheduleSpec("onecycle"),
    ScheduleSpec("onecycle", pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
]
LENGTHS = [(7, 9), (44, 30), (1, 20)]  # (steps per epoch, epochs)
LRS = [0.1, 0.003, 1e-3 / 3]


def torch_lrs(spec: ScheduleSpec, lr: float, steps_per_epoch: int, epochs: int) -> list[float]:
    """The lr of each optimizer step under torch's own scheduler, in a training loop."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_torch_scheduler(
        spec, optimizer, steps_per_epoch=steps_per_epoch, epochs=epochs
    )
    lrs = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if scheduler is not None and spec.per_step:
                scheduler.step()
        if scheduler is not None and not spec.per_step:
            scheduler.step()
    return lrs


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
@pytest.mark.parametrize(("steps_per_epoch", "epochs"), LENGTHS)
def test_scheduled_lrs_equal_torchs_schedulers_bit_for_bit(
    spec: ScheduleSpec, steps_per_epoch: int, epochs: int
) -> None:
    for lr in LRS:
        ours = scheduled_lrs(spec, lr, steps_per_epoch=steps_per_epoch, epochs=epochs)
        theirs = torch_lrs(spec, lr, steps_per_epoch, epochs)
        assert len(ours) == steps_per_epoch * epochs
        mismatches = [t for t, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
        assert not mismatches, (spec, lr, mismatches[:3])


def test_the_chainable_cosine_is_not_the_closed_form() -> None:
    """Why the values are computed as ``scheduler.step()`` computes them: torch's recursive
    cosine drifts from the closed form of its docs in the last bits, so a closed-form
    implementation would train on other lrs (and the test above would catch it)."""
    spec, lr, total = ScheduleSpec("cosine"), 0.1, 44 * 30
    ours = scheduled_lrs(spec, lr, steps_per_epoch=44, epochs=30)
    closed = [lr * (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)]
    assert sum(a != b for a, b in zip(ours, closed, strict=True)) > 100
    assert max(abs(a - b) for a, b in zip(ours, closed, strict=True)) < 1e-12


def test_units_per_schedule() -> None:
    """Step decays count epochs; warmup, cosine, linear and OneCycle count optimizer steps."""
    per_epoch = scheduled_lrs(ScheduleSpec("step", step_size=1), 1.0, steps_per_epoch=3, epochs=3)
    assert per_epoch == (1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 1.0 * 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1)
    warm = scheduled_lrs(
        ScheduleSpec("linear", warmup=2, warmup_start=0.5), 1.0, steps_per_epoch=2, epochs=3
    )
    assert warm[:3] == (0.5, 0.5 * (1.0 + 0.5 / (2 * 0.5)), 1.0)  # warmup in steps, then decay
    assert warm[3:] == (0.75, 0.5, 0.25)  # (a linear decay to 0 over the 4 steps left)
    cycle = scheduled_lrs(ScheduleSpec("onecycle"), 1.0, steps_per_epoch=10, epochs=10)
    assert cycle[0] == pytest.approx(1 / 25) and max(cycle) == pytest.approx(1.0)
    assert cycle.index(max(cycle)) == 29  # the peak at pct_start * T - 1


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (ScheduleSpec("cosine", warmup=90), "`warmup` = 90 leaves no step for the cosine decay"),
        (ScheduleSpec("linear", warmup=100), "use a warmup below 90"),
        (ScheduleSpec("onecycle", pct_start=0.01), "`pct_start` = 0.01 of 90 optimizer steps"),
    ],
)
def test_a_schedule_too_long_for_the_run_is_refused_before_anything_runs(
    spec: ScheduleSpec, needle: str
) -> None:
    problem = schedule_problem(spec, steps_per_epoch=9, epochs=10)
    assert problem is not None and needle in problem
    with pytest.raises(ConfigError, match="Nothing was run"):
        scheduled_lrs(spec, 0.1, steps_per_epoch=9, epochs=10)
    with pytest.raises(ConfigError, match="Nothing was run"):
        make_torch_scheduler(
            spec,
            torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1),
            steps_per_epoch=9,
            epochs=10,
        )


def test_schedule_settings_are_registry_settings_and_normalized() -> None:
    """Every schedule setting is in the registry; a setting another schedule takes keeps its
    default, so equal schedules have one key; a constant schedule leaves config keys as they
    were before schedules existed."""
    assert SETTINGS["schedule"].choices == tuple(SCHEDULES)
    taken = {name for names, _ in SCHEDULES.values() for name in names}
    assert taken == {name for name, s in SETTINGS.items() if s.target == "schedule"} - {"schedule"}
    assert ScheduleSpec("cosine", gamma=0.5) == ScheduleSpec("cosine")
    assert ScheduleSpec("step", gamma=0.5) != ScheduleSpec("step")
    plain = RunConfig()
    assert "schedule" not in plain.to_dict()
    assert plain.key() == RunConfig(schedule=ScheduleSpec("constant", gamma=0.5)).key()
    scheduled = RunConfig(schedule=ScheduleSpec("cosine", warmup=10))
    assert scheduled.key() != plain.key()
    assert scheduled.to_dict()["schedule"] == {
        "name": "cosine", "warmup": 10, "warmup_start": 0.01, "eta_min": 0.0,
    }  # fmt: skip
    assert RunConfig.from_dict(scheduled.to_dict()) == scheduled


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        (ScheduleSpec("cosine", warmup=10**6), "`warmup` = 1000000 leaves no step"),
        (ScheduleSpec("bogus"), "`schedule` = 'bogus' is unknown"),
        (ScheduleSpec("step", gamma=-1.0), "`gamma` = -1.0 is outside (0, inf)"),
    ],
)
def test_engines_check_a_configs_schedule_before_training(
    schedule: ScheduleSpec, needle: str
) -> None:
    """A RunConfig made by hand (not by a sweep) is checked by either engine up front."""
    from optiscope.engine import train_reference, train_vectorized

    config = RunConfig(schedule=schedule, epochs=2)
    for train in (train_reference, lambda c: train_vectorized([c])):
        with pytest.raises(ConfigError, match="Nothing was run") as caught:
            train(config)
        assert needle in str(caught.value)
