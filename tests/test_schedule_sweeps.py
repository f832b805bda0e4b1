"""lr schedules and the new optimizers from Python, the command line and spec files; the lr
of each epoch stored with the curves and drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import run
from optiscope import sweep
from optiscope.api import SweepResult
from optiscope.optim import scheduled_lrs
from optiscope.plotting import LR_LABEL, build_lr_curves
from optiscope.records import ScheduleSpec
from optiscope.sweeps import SweepSpec

SMALL = {"epochs": 3, "n": 200, "hidden": (8,), "batch_size": 16}  # 140 rows: 9 steps an epoch
STEPS = 9


def _epoch_lrs(spec: ScheduleSpec, lr: float, epochs: int = 3) -> list[float]:
    """The lr of each epoch's last step (held to torch's schedulers in test_schedules.py)."""
    lrs = scheduled_lrs(spec, lr, steps_per_epoch=STEPS, epochs=epochs)
    return [lrs[STEPS * e - 1] for e in range(1, epochs + 1)]


def test_a_schedule_sweep_from_python_stores_each_epochs_lr(tmp_path: Path) -> None:
    result = sweep(
        schedule=["cosine", "step"], warmup=[0, 10], step_size=1, gamma=0.5, lr=[0.01, 0.02],
        store=tmp_path / "s.sqlite", name="sched", **SMALL,
    )  # fmt: skip
    assert len(result.runs) == 6  # step ignores warmup: its two configs are one
    frame = result.frame  # (a swept lr is a column of its own: the base lr)
    for stored in result.runs:
        assert stored.curve is not None
        expected = _epoch_lrs(stored.config.schedule, stored.config.hparam_dict["lr"])  # type: ignore[arg-type]
        assert list(stored.curve.lr) == expected
        assert frame[frame["key"] == stored.key]["epoch_lr"].tolist() == expected
    again = SweepResult.load("sched", store=tmp_path / "s.sqlite")  # read back from the store
    assert [r.curve.lr for r in again.runs] == [r.curve.lr for r in result.runs]

    data = result.lr_data()
    assert data.y_label == LR_LABEL and len(data.lines) == 6
    (step,) = [line for line in data.lines if "step" in line.label and "0.02" in line.label]
    assert step.y == (0.02, 0.01, 0.005)
    assert result.plot_lr(log_y=True).axes[0].get_yscale() == "log"


def test_the_new_optimizers_sweep_with_a_schedule(tmp_path: Path) -> None:
    result = sweep(
        optimizer=["nadam", "radam", "adamax", "sgd"], nesterov=True, momentum=0.9,
        schedule="onecycle", standardize=True, store=tmp_path / "s.sqlite", **SMALL,
    )  # fmt: skip
    assert sorted(r.config.optimizer for r in result.runs) == ["adamax", "nadam", "radam", "sgd"]
    assert all(r.status == "done" for r in result.runs)
    sgd = next(r for r in result.runs if r.config.optimizer == "sgd")
    assert sgd.config.hparam_dict["nesterov"] is True
    for stored in result.runs:  # each optimizer's own default lr is OneCycle's peak
        assert stored.curve is not None
        peak = float(stored.config.hparam_dict["lr"])  # type: ignore[arg-type]
        assert list(stored.curve.lr) == _epoch_lrs(ScheduleSpec("onecycle"), peak)


def test_a_spec_file_takes_the_schedule_settings(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(
        'name = "file"\n'
        "[fixed]\n"
        'schedule = "multistep"\n'
        "milestones = [1, 2]\n"
        "gamma = 0.3\n"
        "[grid]\n"
        'optimizer = ["adamw", "nadam"]\n'
    )
    points = SweepSpec.load(path).expand()
    assert [p.config.schedule for p in points] == [
        ScheduleSpec("multistep", milestones=(1, 2), gamma=0.3)
    ] * 2
    assert SweepSpec.from_toml(SweepSpec.load(path).to_toml()).expand() == points


def test_the_command_line_sweeps_schedules_and_draws_their_lrs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "s.sqlite")
    code, _, err = run(
        ["sweep", "--schedule", "cosine", "--warmup", "0,10", "--epochs", "3", "--n", "200",
         "--hidden", "8", "--store", store, "--name", "cli", "--out",
         str(tmp_path / "curves.png")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    out = tmp_path / "lr.png"
    code, _, err = run(["runs", "lr", "cli", "--store", store, "--out", str(out)], capsys)
    assert code == 0, err
    assert out.stat().st_size > 10_000
    runs = SweepResult.load("cli", store=store).runs
    assert sorted(r.config.schedule.warmup for r in runs) == [0, 10]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--schedule", "cosine", "--milestones", "0x2"], "`milestones`"),
        (["--schedule", "sometimes"], "`schedule` = 'sometimes' is unknown"),
        (["--milestones", "ax2"], "--milestones takes epochs joined by x"),
        (["--schedule", "cosine", "--warmup", "1000"], "leaves no step for the cosine decay"),
    ],
)
def test_schedule_mistakes_exit_2_in_one_line(
    flags: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["sweep", *flags, "--epochs", "2", "--n", "100", "--store", str(tmp_path / "s.sqlite")],
        capsys,
    )
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "s.sqlite").exists()


def test_curves_stored_without_lrs_are_not_drawn_as_zeros() -> None:
    from optiscope.records import Curve, RunConfig, RunRecord

    old = RunRecord(RunConfig(), Curve(epoch=(1, 2), step=(9, 18), samples=(1, 2),
                                       seconds=(0.1, 0.2), valid_loss=(1.0, 0.5),
                                       train_loss=(1.0, 0.5)))  # fmt: skip
    data = build_lr_curves([old], ["old"])
    assert data.lines == () and "1 run(s) stored before lrs were recorded" in data.note
