"""Result figures: shown outside Jupyter, drawn into given axes, closed when only saved, an
all-diverged sweep drawn with a note, loss intervals clipped at zero, the compare subtitle and
mean-predictor yardstick, and the seconds axis under the vectorized engine."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from curve_records import epoch_curve
from optiscope.api import CompareResult, SweepResult
from optiscope.cli import main
from optiscope.data import make_dataset
from optiscope.errors import ConfigError
from optiscope.plotting import build_bands, build_curves, interval, render_bands
from optiscope.records import DataSpec, RunConfig, RunRecord
from optiscope.storage import StoredRun
from optiscope.sweeps import SweepSpec


def _record(values: list[float], *, lr: float = 0.01, seed: int = 123, **kw: object) -> RunRecord:
    n = len(values)
    status = "diverged" if values and not math.isfinite(values[-1]) else "done"
    curve = epoch_curve(values)
    config = RunConfig(optimizer="adamw", hparams={"lr": lr}, seed=seed, data=DataSpec(sd=0.1))
    return RunRecord(
        config,
        curve,
        status=status,  # type: ignore[arg-type]
        diverged_epoch=n if status == "diverged" else None,
        **kw,  # type: ignore[arg-type]
    )


def _compare(*finals: float) -> CompareResult:
    values = [0.001 * 10**i for i in range(len(finals))]
    records = [_record([0.5, f], lr=v) for v, f in zip(values, finals, strict=True)]
    return CompareResult("lr", values, records)


def _sweep(finals_by_lr: dict[float, list[float]]) -> SweepResult:
    runs = []
    for lr, finals in finals_by_lr.items():
        for seed, final in enumerate(finals):
            record = _record([0.5, final], lr=lr, seed=seed)
            runs.append(
                StoredRun(
                    position=len(runs),
                    key=record.config.key(),
                    config=record.config,
                    labels={"label": f"lr = {lr:g}", "settings": {"lr": lr}, "seed": seed},
                    status=record.status,
                    engine="reference",
                    diverged_epoch=record.diverged_epoch,
                    curve=record.curve,
                )
            )
    return SweepResult("s", SweepSpec(grid={"lr": list(finals_by_lr)}), runs, Path())


# -- 1. an all-diverged sweep on a log axis ---------------------------------------------------


def test_all_diverged_bands_on_a_log_axis_draw_a_note_instead_of_raising() -> None:
    nan = math.nan
    groups = [("lr = 0.5", [(0, _record([nan])), (1, _record([nan]))])]
    data = build_bands(groups, log_y=True)
    assert data.y_limits is None
    assert "every run diverged" in data.note
    fig = render_bands(data)
    fig.savefig(__import__("io").BytesIO(), format="png")  # raised "cannot be log-scaled"
    assert fig.axes[0].get_yscale() == "linear"


def test_all_diverged_sweep_with_log_y_prints_its_table_and_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, out = tmp_path / "r.sqlite", tmp_path / "f.png"
    args = ["sweep", "--optimizer", "sgd", "--lr", "1e6,1e7", "--seeds", "2", "--epochs", "2"]
    args += ["--n", "200", "--hidden", "8", "--log-y", "--yes", "--quiet"]
    args += ["--store", str(store), "--out", str(out)]
    code = 0
    try:
        main(args)
    except SystemExit as exit:
        code = int(exit.code or 0)
    printed = capsys.readouterr().out
    assert code == 0
    assert "diverged 2/2" in printed
    assert out.stat().st_size > 0


# -- 2. figures shown outside Jupyter, ax=, closing ---------------------------------------------


def test_result_plot_is_shown_by_pyplot_in_a_plain_script(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optiscope.api import CompareResult
        from optiscope.records import Curve, RunConfig, RunRecord

        curve = Curve((1, 2), (10, 20), (100, 200), (0.1, 0.2), (0.5, 0.4), (0.5, 0.4))
        result = CompareResult("lr", [0.01], [RunRecord(RunConfig(), curve)])
        fig = result.plot()
        assert fig.number in plt.get_fignums(), plt.get_fignums()
        fig.show()
        plt.show()
        print("shown")
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "shown" in done.stdout


def test_plot_draws_into_a_given_axes() -> None:
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    assert _compare(0.3, 0.2).plot(ax=right) is fig
    assert len(right.get_lines()) >= 2 and not left.get_lines()
    assert _sweep({0.01: [0.2, 0.3]}).plot(ax=left) is fig
    assert left.collections  # the band


def test_a_multi_panel_figure_refuses_one_axes_with_what_to_do() -> None:
    import matplotlib.pyplot as plt

    result = _sweep({0.01: [0.2, 0.3], 0.1: [0.2, 0.3]})
    _, ax = plt.subplots()
    with pytest.raises(ConfigError, match="facet=None"):
        result.plot(facet="lr", ax=ax)
    from optiscope.plotting._style import panel_axes

    with pytest.raises(ConfigError, match=r"2 panels.*a sequence of 2 Axes; got a Axes"):
        panel_axes(ax, 2, (4, 4))


def test_saving_many_figures_leaves_none_open(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
    result = _compare(0.3, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pyplot warns past 20 open figures
        for index in range(25):
            result.save(tmp_path / f"f{index}.png")
        result._repr_png_()
        result._repr_html_()
    assert plt.get_fignums() == []


def test_repr_html_shows_the_summary_beside_the_figure() -> None:
    html = _sweep({0.01: [0.2, 0.3]})._repr_html_()
    assert "data:image/png;base64," in html
    assert "<table" in html and "final_mean" in html and "lr = 0.01" in html


def _landscape_result(kind: str) -> tuple[Any, int]:
    """A small result of this landscape kind, and how many panels its figure has."""
    from optiscope.api import race, sensitivity_map, weight_decay_bias
    from optiscope.exercise import optimize_rosenbrock

    if kind == "path":
        return optimize_rosenbrock(steps=20, lr=0.01, beta=0.9), 1
    if kind == "race":
        return race("booth", ["adam lr=0.1"], steps=20), 2
    if kind == "sensitivity":
        grid = {"lr": [0.01, 0.1], "beta": [0.5, 0.9]}
        return sensitivity_map("booth", "momentum beta=0.9", grid, steps=20), 2
    return weight_decay_bias("rosenbrock a=1 b=2", [0.0, 0.1], steps=50), 3


@pytest.mark.parametrize("kind", ["path", "race", "sensitivity", "weight_decay"])
def test_every_landscape_result_is_shown_by_pyplot_draws_into_given_axes_and_has_html(
    kind: str,
) -> None:
    import matplotlib.pyplot as plt

    result, panels = _landscape_result(kind)
    own = result.plot()
    assert own.number in plt.get_fignums()  # plt.show() shows it
    fig, axes = plt.subplots(1, panels, squeeze=False)
    given = list(axes[0])
    assert result.plot(ax=given if panels > 1 else given[0]) is fig
    assert all(ax.has_data() for ax in given)
    open_before = plt.get_fignums()
    html = result._repr_html_()
    assert "data:image/png;base64," in html and "<table" in html
    assert plt.get_fignums() == open_before  # the notebook's figure is closed once shown


# -- 3. intervals of a loss stop at zero -------------------------------------------------------


def test_rmse_confidence_intervals_are_clipped_at_zero_in_tables_and_bands() -> None:
    finals = [0.01, 0.5]  # mean 0.255, the t-interval of two values reaches far below 0
    assert interval(finals, band="ci").low < 0
    summary = _sweep({0.01: finals}).summary()
    assert summary["final_ci_low"].iloc[0] == 0.0
    data = _sweep({0.01: finals}).plot_data(band="ci")[0]
    assert min(data.lines[0].low) == 0.0


# -- 4. compare subtitle and yardstick ---------------------------------------------------------


def test_compare_figure_states_the_fixed_settings_and_data_in_a_subtitle() -> None:
    fig = _compare(0.3, 0.2).plot()
    title = fig.axes[0].get_title()
    assert title.splitlines()[0] == "lr compared"
    subtitle = " ".join(title.splitlines()[1:])
    assert "AdamW:" in subtitle and "batch_size = 16" in subtitle
    assert "friedman3 (n=1000, sd=0.1)" in subtitle
    assert "lr =" not in subtitle  # the compared setting is not fixed


def test_mean_predictor_yardstick_is_the_rmse_of_the_training_mean() -> None:
    result = _compare(0.3, 0.2)
    dataset = make_dataset(result.records[0].config.data)
    y_train = np.asarray(dataset.y_train, dtype=np.float64).ravel()
    y_valid = np.asarray(dataset.y_valid, dtype=np.float64).ravel()
    expected = float(np.sqrt(np.mean((y_valid - y_train.mean()) ** 2)))
    assert result.mean_predictor_rmse == pytest.approx(expected, rel=1e-12)
    ax = result.plot(yardstick=True).axes[0]
    flat = [line for line in ax.get_lines() if set(line.get_ydata()) == {expected}]
    assert flat and "training mean" in str(flat[0].get_label())
    lines = result.plot().axes[0].get_lines()
    assert not [line for line in lines if set(line.get_ydata()) == {expected}]  # off by default


# -- 5. the seconds axis under the vectorized engine -------------------------------------------


def test_seconds_axis_says_stacked_configs_share_their_groups_time() -> None:
    vectorized = [_record([0.5, 0.4], engine="vectorized")]
    label = build_curves(vectorized, ["a"], x="seconds").x_label
    assert "stacked configs share" in label
    assert build_curves([_record([0.5, 0.4])], ["a"], x="seconds").x_label == "Training time (s)"
