"""lr-find: the stacked range test against a plain PyTorch loop, bit for bit; fastai's
smoothing, stop rule and four suggestions from their definitions; the check; the command."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from optiscope.api import LrFindResult, lr_find
from optiscope.api._lr_suggestions import minimum, slide, steep, suggest, trim, valley
from optiscope.cli import main
from optiscope.data import make_dataset
from optiscope.engine import lr_ramp, lr_range_test, smooth_losses, stop_index
from optiscope.errors import ConfigError
from optiscope.models import build_mlp
from optiscope.optim import get_optimizer
from optiscope.plotting import build_check
from optiscope.records import DataSpec, RunConfig

# 140 training rows at batch size 16: 9 steps an epoch, the last of 12 rows; 40 steps span
# five epochs, so the ramp crosses epoch ends and a short last batch.
DATA = DataSpec(n=200)
STEPS = 40


def _plain_range_test(config: RunConfig, min_lr: float, max_lr: float, steps: int) -> list[float]:
    """The loop a user would write: build_mlp, torch.optim, group['lr'] set before each step,
    each step's batch loss recorded before its update; all ``steps`` steps, no stopping."""
    data = make_dataset(config.data)
    model = build_mlp(
        data.n_features,
        config.hidden,
        config.activation,
        config.seed,
        out_features=data.n_outputs,
    )
    loss_of = F.cross_entropy if data.n_classes else F.mse_loss
    info = get_optimizer(config.optimizer)
    optimizer = info.make_torch(model.parameters(), info.complete(config.hparam_dict))
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    ramp = lr_ramp(min_lr, max_lr, steps)
    while len(losses) < steps:
        order = torch.randperm(data.n_train, generator=generator) if config.shuffle else None
        for first in range(0, data.n_train, config.batch_size):
            if len(losses) == steps:
                break
            rows = slice(first, first + config.batch_size)
            batch = rows if order is None else order[rows]
            for group in optimizer.param_groups:
                group["lr"] = ramp[len(losses)]
            optimizer.zero_grad()
            loss = loss_of(model(data.X_train[batch]), data.y_train[batch])
            loss.backward()
            optimizer.step()
            losses.append(float(loss.item()))
    return losses


@pytest.mark.parametrize("shuffle", [False, True])
def test_stacked_range_test_equals_the_plain_loop_bit_for_bit(shuffle: bool) -> None:
    configs = [
        RunConfig(optimizer="adam", seed=0, data=DATA, hidden=(16, 8), shuffle=shuffle),
        RunConfig(
            optimizer="sgd",
            hparams={"momentum": 0.9},
            seed=1,
            data=DATA,
            hidden=(16, 8),
            shuffle=shuffle,
        ),
        RunConfig(
            optimizer="adamw",
            hparams={"weight_decay": 0.1},
            seed=0,
            data=DATA,
            hidden=(16, 8),
            shuffle=shuffle,
        ),
        RunConfig(optimizer="adam", seed=2, data=DATA, hidden=(16, 8), shuffle=shuffle),
    ]  # optimizers interleaved: the engine stacks them by optimizer and must give them back
    found = lr_range_test(configs, min_lr=1e-4, max_lr=100.0, steps=STEPS)
    assert [r.config for r in found] == configs
    for test, config in zip(found, configs, strict=True):
        plain = _plain_range_test(config, 1e-4, 100.0, STEPS)
        count = stop_index(smooth_losses(plain))
        assert len(test.losses) == count  # stopped where fastai's rule stops the plain loop
        assert list(test.losses) == plain[:count]  # equal as numbers: max difference 0.0
        assert list(test.smoothed) == smooth_losses(plain[:count])
        assert list(test.lrs) == lr_ramp(1e-4, 100.0, STEPS)[:count]
        assert test.diverged == (count < STEPS)
    assert any(t.diverged for t in found) and any(len(t.losses) > 9 for t in found)


def test_range_test_on_classification_equals_the_plain_cross_entropy_loop() -> None:
    spirals = DataSpec(name="spirals", n=200)
    configs = [
        RunConfig(optimizer="adamw", seed=s, data=spirals, hidden=(16,), metric="log_loss")
        for s in (0, 1)
    ] + [RunConfig(optimizer="rmsprop", seed=0, data=spirals, hidden=(16,), metric="log_loss")]
    found = lr_range_test(configs, min_lr=1e-4, max_lr=100.0, steps=STEPS)
    for test, config in zip(found, configs, strict=True):
        plain = _plain_range_test(config, 1e-4, 100.0, STEPS)
        count = stop_index(smooth_losses(plain))
        assert list(test.losses) == plain[:count]


def test_ramp_and_smoothing_are_fastais() -> None:
    ramp = lr_ramp(1e-7, 10.0, 100)
    assert ramp[0] == 1e-7 and ramp[-1] == pytest.approx(1e-7 * 1e8**0.99)
    assert np.allclose(np.diff(np.log(ramp)), math.log(1e8) / 100)
    losses = [3.0, 1.0, 4.0, 1.0, 5.0]
    average, expected = 0.0, []
    for t, loss in enumerate(losses, start=1):  # AvgSmoothLoss: lerp, then debias by 1 - b^t
        average = 0.98 * average + 0.02 * loss
        expected.append(average / (1 - 0.98**t))
    assert smooth_losses(losses) == pytest.approx(expected, rel=1e-12)
    assert smooth_losses([2.0])[0] == pytest.approx(2.0)  # the first value is unbiased


def test_stop_rule_is_four_times_the_best_smoothed_loss() -> None:
    assert stop_index([4.0, 2.0, 7.9, 8.1, 1.0]) == 4  # 8.1 > 4 * 2 ends it, included
    assert stop_index([1.0, 2.0, 3.0]) == 3
    assert stop_index([1.0, math.nan, 0.5]) == 2


def test_trim_drops_fastais_ends_and_cuts_at_the_first_non_finite_value() -> None:
    lrs = [float(i) for i in range(100)]
    kept_lrs, _ = trim(lrs, lrs, 100)
    assert kept_lrs[0] == 10.0 and kept_lrs[-1] == 94.0
    losses = [*range(50), math.nan, *range(49)]
    assert trim(lrs, losses, 100)[1] == list(range(10, 50))


def test_valley_takes_two_thirds_of_the_longest_decrease() -> None:
    # The longest decreasing run is 5, 4, 3, 2, 1 (indices 0, 2, 3, 4, 5): fastai's start is
    # end - length = 0 and the pick is 0 + int(5/3) + int(5/6) = 1.
    lrs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert valley(lrs, [5.0, 6.0, 4.0, 3.0, 2.0, 1.0, 7.0]) == (2.0, 2.0, 6.0)


def test_minimum_is_a_tenth_of_the_lowest_losss_lr() -> None:
    assert minimum([1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 2.0, 3.0]) == (0.2, 2.0, 1.0)


def test_steep_is_the_fastest_fall_against_log_lr() -> None:
    # Falls per decade: 1, 3, 0.5: the steepest starts at lr 10.
    assert steep([1.0, 10.0, 100.0, 1000.0], [5.0, 4.0, 1.0, 0.5])[0] == 10.0


def test_slide_stops_where_the_gradient_stops_changing() -> None:
    lrs = [float(v) for v in range(1, 21)]
    straight = [1.0 - 0.01 * i for i in range(20)]  # constant gradient: the walk never starts
    assert slide(lrs, straight)[0] == lrs[-16]
    bent = [*([1.0] * 10), *(1.0 + 0.5 * i for i in range(1, 11))]  # flat, then rising
    # From the end the window (15 apart) spans the bend until its left end reaches the flat
    # part's interior; the suggestion is the left end of the last window that spanned it.
    found = slide(lrs, bent)[0]
    assert 1.0 <= found < lrs[-16]
    assert math.isnan(slide(lrs[:10], straight[:10])[0])  # too short for a window of 15


def test_suggest_returns_every_method() -> None:
    lrs = lr_ramp(1e-5, 1.0, 100)
    losses = [1.0 / (1 + 100 * lr) + 50 * lr**2 for lr in lrs]  # a valley near lr 0.1
    marks = suggest(lrs, smooth_losses(losses), 100)
    assert list(marks) == ["valley", "slide", "minimum", "steep"]
    assert all(lrs[0] / 10 <= m[0] <= lrs[-1] for m in marks.values())


def test_the_check_counts_diverged_seeds_and_never_picks_their_lr() -> None:
    # lr 0.1 has the lowest finite value but a diverged seed: the best is 0.01 (and for a
    # score, the highest mean: 0.03).
    finals = {0.1: [0.2, math.nan], 0.01: [0.5, 0.6], 0.03: [0.7, 0.9]}
    line = build_check(finals, "min")
    assert line.lrs == (0.01, 0.03, 0.1) and line.diverged == (0, 0, 1)
    assert line.best_lr == 0.01 and line.mean[2] == 0.2
    assert build_check(finals, "max").best_lr == 0.03


def test_lr_find_checks_its_suggestions_through_the_pipeline() -> None:
    found = lr_find(
        ["adam", "sgd"],
        seeds=2,
        min_lr=1e-5,
        max_lr=1.0,
        steps=30,
        settings={"n": 200, "hidden": (8,), "epochs": 2},
        check_lrs=[1e-3, 1e-2, 1e-1],
    )
    assert isinstance(found, LrFindResult) and len(found.ranges) == 4
    table = found.table()
    assert set(table["method"]) == {"valley", "slide", "minimum", "steep"}
    assert set(table["config"]) == {"optimizer = adam", "optimizer = sgd"}
    for label, check in found.checks.items():
        assert sorted(check) == [1e-3, 1e-2, 1e-1]
        assert all(len(seeds) == 2 for seeds in check.values())
        means = {lr: float(np.mean(v)) for lr, v in check.items() if all(map(math.isfinite, v))}
        rows = table[table["config"] == label]
        assert (rows["best_lr"] == min(means, key=means.__getitem__)).all()
        for row in rows.itertuples():
            per_seed = [p[0] for p in found.suggestions[label][row.method] if math.isfinite(p[0])]
            if per_seed:  # the median over seeds of how many decades each seed's pick is off
                off = sorted(math.log10(v / row.best_lr) for v in per_seed)
                assert row.decades == pytest.approx(float(np.median(off)))
                assert (row.decades_low, row.decades_high) == pytest.approx((off[0], off[-1]))
    fig = found.plot()
    assert len(fig.axes) == 4 and "lower is better" in fig.axes[1].get_ylabel()


def test_lr_find_refuses_an_lr_a_bad_range_and_configs_that_cannot_share_a_run() -> None:
    with pytest.raises(ConfigError, match="leave lr out"):
        lr_find("adam", settings={"lr": 0.1}, check=False)
    with pytest.raises(ConfigError, match="0 < min_lr < max_lr"):
        lr_find("adam", min_lr=1.0, max_lr=0.1, check=False, settings={"n": 200})
    with pytest.raises(ConfigError, match="one validation metric"):
        lr_find("adam", settings={"n": 200, "metric": ["rmse", "batch_rmse"]}, check=False)
    configs = [RunConfig(data=DATA), RunConfig(data=DATA, batch_size=32)]
    with pytest.raises(ConfigError, match="share batch size"):
        lr_range_test(configs)


def test_lr_find_command_draws_its_figure_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lr.png"
    main(["lr-find", "--optimizer", "adam,sgd", "--seeds", "2", "--steps", "30", "--epochs", "2",
          "--n", "200", "--hidden", "8", "--lr", "0.001,0.01", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr()
    assert "valley" in printed.out and "decades off" in printed.out
    assert out.stat().st_size > 10_000 and "range test" in printed.err
    with pytest.raises(SystemExit) as exit:
        main(["lr-find", "--min-lr", "1", "--max-lr", "0.1", "--no-check", "--out", str(out)])
    assert exit.value.code == 2
