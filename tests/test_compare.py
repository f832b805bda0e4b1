"""compare_configs: the exercise's question 1, its checks, its result object."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import optiscope
from optiscope import compare_configs
from optiscope.data import make_dataset
from optiscope.errors import ConfigError, DataError
from optiscope.exercise import compare_configs as exercise_compare_configs
from optiscope.records import DataSpec

SMALL = DataSpec(n=200)


def test_the_exercise_call_works_as_written() -> None:
    result = exercise_compare_configs(epochs=30, lr=[0.1, 0.2], weight_decay=0.02)
    assert result.labels == ["lr = 0.1", "lr = 0.2"]
    assert [r.status for r in result.records] == ["done", "done"]
    assert all(len(r.curve.valid_loss) == 30 for r in result.records)
    assert all(r.config.hparam_dict["weight_decay"] == 0.02 for r in result.records)
    assert optiscope.compare_configs is exercise_compare_configs


def test_frame_summary_and_order_by_value() -> None:
    result = compare_configs(epochs=3, lr=[0.1, 0.001, 0.01], data=SMALL)
    frame = result.frame
    assert list(frame.columns) == [
        "config", "lr", "epoch", "step", "samples", "seconds", "valid_loss", "train_loss", "status",
    ]  # fmt: skip
    assert len(frame) == 9
    # Ordered by value, not as text ("lr = 0.001" < "lr = 0.01" < "lr = 0.1").
    assert list(frame["config"].cat.categories) == ["lr = 0.001", "lr = 0.01", "lr = 0.1"]
    assert frame["config"].cat.ordered
    summary = result.summary()
    assert list(summary["lr"]) == [0.001, 0.01, 0.1]
    for row, record in zip(summary.itertuples(), result.records, strict=True):
        assert row.final_valid_loss == record.curve.valid_loss[-1]
        assert row.best_valid_loss == min(record.curve.valid_loss)
        assert record.curve.valid_loss[row.best_epoch - 1] == row.best_valid_loss


def test_batch_size_values_set_the_batch_size() -> None:
    result = compare_configs(epochs=1, batch_size=(64, 32), data=SMALL)
    steps = {r.config.batch_size: r.curve.step[-1] for r in result.records}
    assert steps == {32: math.ceil(140 / 32), 64: math.ceil(140 / 64)}


def test_batch_metric_reads_lower_than_the_true_rmse_at_batch_size_2() -> None:
    """The exercise's metric is a mean of per-batch RMSEs: by Jensen it never exceeds the RMSE,
    and at batch size 2 it reads far lower (part of 'smaller batches are better' is the metric)."""
    true = compare_configs(epochs=2, batch_size=[2], metric="rmse")
    course = compare_configs(epochs=2, batch_size=[2], metric="batch_rmse")
    # Same training (same seed and batches): only the validation metric differs.
    rmse, batch_rmse = true.records[0].curve.valid_loss, course.records[0].curve.valid_loss
    assert true.records[0].curve.train_loss == course.records[0].curve.train_loss
    for a, b in zip(rmse, batch_rmse, strict=True):
        assert b < a
    assert batch_rmse[-1] < 0.9 * rmse[-1]


def test_a_diverging_config_is_marked_and_the_others_go_on() -> None:
    result = compare_configs(epochs=4, lr=[0.01, 1e30], data=SMALL)
    ok, bad = result.records
    assert ok.status == "done" and len(ok.curve.epoch) == 4
    assert bad.status == "diverged" and bad.diverged_epoch == len(bad.curve.epoch)
    summary = result.summary().set_index("config")
    assert summary.loc["lr = 1e+30", "status"] == "diverged"
    assert math.isnan(summary.loc["lr = 1e+30", "final_valid_loss"])
    assert summary.loc["lr = 1e+30", "diverged_epoch"] == bad.diverged_epoch
    fig = result.plot()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("diverged at epoch" in text for text in legend)


@pytest.mark.parametrize("x", ["epoch", "step", "samples", "seconds"])
def test_plot_axes(x: str) -> None:
    result = compare_configs(epochs=2, beta1=[0.5, 0.9], data=SMALL)
    fig = result.plot(x=x, log_y=(x == "step"), log_x=(x == "samples"))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    expected = [list(getattr(r.curve, x)) for r in result.records]
    assert [list(line.get_xdata()) for line in ax.get_lines()[:2]] == expected
    assert ax.get_yscale() == ("log" if x == "step" else "linear")
    assert ax.get_xscale() == ("log" if x == "samples" else "linear")


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_save_formats(tmp_path: Path, suffix: str) -> None:
    result = compare_configs(epochs=1, beta2=[0.99, 0.999], data=SMALL)
    path = result.save(tmp_path / "sub" / f"figure.{suffix}")
    head = path.read_bytes()[:8]
    assert {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}[suffix] in head


def test_save_refuses_other_formats(tmp_path: Path) -> None:
    result = compare_configs(epochs=1, beta2=[0.99, 0.999], data=SMALL)
    with pytest.raises(ConfigError, match=r"must end in \.png, \.svg, \.pdf"):
        result.save(tmp_path / "figure.jpg")
    assert not (tmp_path / "figure.jpg").exists()


def test_jupyter_shows_a_figure() -> None:
    result = compare_configs(epochs=1, lr=[0.1, 0.01], data=SMALL)
    assert result._repr_png_().startswith(b"\x89PNG")


def test_user_data_arrays() -> None:
    data = make_dataset(SMALL)
    arrays = (data.X_train.numpy(), data.y_train.numpy(), data.X_valid, data.y_valid[:, 0])
    from_arrays = compare_configs(epochs=2, lr=[0.01, 0.1], data=arrays)
    from_spec = compare_configs(epochs=2, lr=[0.01, 0.1], data=SMALL)
    for a, b in zip(from_arrays.records, from_spec.records, strict=True):
        assert a.curve.valid_loss == b.curve.valid_loss
    assert from_arrays.records[0].config.data.name == "custom"


def test_dataset_by_name() -> None:
    result = compare_configs(epochs=1, lr=[0.01, 0.1], data="friedman1")
    assert result.records[0].config.data.name == "friedman1"
    assert result.records[0].config.data.sd == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of batch_size, lr, weight_decay, beta1, beta2 .* none was a list"),
        ({"lr": [0.1], "beta1": (0.5, 0.9)}, "lists were given for lr, beta1"),
        ({"lr": []}, "`lr` is an empty list"),
        ({"lr": [0.1, 0.1]}, "lists 0.1 more than once"),
        ({"lr": [0.1, -1.0]}, r"config 2 of 2 \(lr = -1\): `lr` = -1.0 is outside \(0, inf\)"),
        ({"lr": [0.1, math.inf]}, "`lr` = inf must be finite"),
        ({"lr": [0.1, "0.01"]}, "it is the text '0.01', not a number"),
        ({"beta2": [0.99, 1.0]}, r"`beta2` = 1.0 is outside \[0, 1\); AdamW needs 0 <= beta2 < 1"),
        ({"beta1": [-0.1, 0.9]}, "`beta1` = -0.1 is outside"),
        ({"weight_decay": [-0.5, 0.1]}, "`weight_decay` = -0.5 is outside"),
        ({"batch_size": [0, 16]}, "`batch_size` = 0 is outside"),
        ({"batch_size": [16.5, 32]}, "`batch_size` = 16.5 must be an integer"),
        ({"lr": [0.1, 0.01], "epochs": 0}, r"every config \(all 2\): `epochs` = 0 is outside"),
        ({"lr": [0.1, 0.01], "epochs": 2.5}, "`epochs` = 2.5 must be an integer"),
        ({"lr": [0.1, 0.01], "metric": "mae"}, "`metric` = 'mae' is unknown"),
        ({"lr": [0.1, 0.01], "data": 42}, "data = int is not understood"),
        ({"lr": [0.1, 0.01], "data": "friedman7"}, "`dataset` = 'friedman7' is unknown; choose"),
        ({"lr": {0.1, 0.01}}, r"`lr` is a set, which has no order; pass a list or tuple"),
        ({"lr": [0.1, 0.01], "device": "bogus"}, "device = 'bogus' is not a device torch knows"),
        ({"lr": np.ones((2, 2))}, r"`lr` is a 2-D ndarray of shape \(2, 2\); pass a flat list"),
    ],
)
def test_bad_settings_are_refused_before_anything_trains(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        compare_configs(**kwargs)
    if "config" in message or "every config" in message:
        assert str(info.value).endswith("Nothing was run.")


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_without_a_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU that torch can use; use device='cpu'"):
        compare_configs(lr=[0.1, 0.01], device="cuda")


def test_numpy_and_torch_values_are_numbers() -> None:
    """Values built with NumPy or torch in a notebook work as the Python numbers they hold."""
    import torch

    result = compare_configs(
        epochs=1,
        lr=np.array([0.1, 0.01]),
        batch_size=np.int64(32),
        weight_decay=torch.tensor(0.5),
        beta1=np.float64(0.8),
        data=SMALL,
    )
    assert result.values == [0.01, 0.1]
    config = result.records[0].config
    assert (config.batch_size, config.hparam_dict["weight_decay"]) == (32, 0.5)
    assert type(config.batch_size) is int and config.hparam_dict["betas"] == (0.8, 0.999)
    sizes = compare_configs(epochs=1, batch_size=torch.tensor([64, 32]), data=SMALL)
    assert sizes.values == [32, 64] and sizes.labels == ["batch_size = 32", "batch_size = 64"]
    assert compare_configs(epochs=1, beta2=[np.float32(0.5), 0.9], data=SMALL).values == [
        0.5,
        0.9,
    ]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        compare_configs(lr=[-1.0, 0.1, "x"], epochs=0)
    text = str(info.value)
    assert "every config (all 3): `epochs` = 0" in text
    assert "config 1 of 3" in text and "config 3 of 3" in text and "config 2 of 3" not in text


def test_bad_user_data_is_a_data_error() -> None:
    bad = (np.ones((5, 4)), np.ones(5), np.ones((3, 4)), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(DataError, match="y_valid contains 1 NaN"):
        compare_configs(lr=[0.1, 0.01], data=bad)


def test_json_summary_has_no_nan() -> None:
    import json

    result = compare_configs(epochs=2, lr=[0.01, 1e30], data=SMALL)
    text = json.dumps(result.to_json_dict(), allow_nan=False)
    assert '"final_valid_loss": null' in text
    assert isinstance(result.frame, pd.DataFrame)
