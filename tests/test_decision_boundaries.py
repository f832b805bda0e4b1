"""Decision-boundary figures: the data without matplotlib, a render smoke test, and a sweep's
retrained networks checked against what the sweep stored."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import optiscope
from optiscope.api._decision import _model, trained_weights
from optiscope.data import make_dataset
from optiscope.errors import ConfigError
from optiscope.plotting import (
    build_decision_boundaries,
    decision_grid,
    render_decision_boundaries,
)


def test_the_grid_covers_the_points_with_a_margin() -> None:
    points = np.array([[0.0, -1.0], [2.0, 3.0]])
    xs, ys, inputs = decision_grid(points, resolution=5, margin=0.1)
    assert (xs[0], xs[-1]) == pytest.approx((-0.2, 2.2))  # range 2, 10% each side
    assert (ys[0], ys[-1]) == pytest.approx((-1.4, 3.4))  # range 4
    assert inputs.shape == (25, 2) and inputs.dtype == np.float32
    # row by row from the lowest y: the second point is (x1, y0), the sixth (x0, y1)
    assert inputs[1].tolist() == pytest.approx([xs[1], ys[0]])
    assert inputs[5].tolist() == pytest.approx([xs[0], ys[1]])
    with pytest.raises(ConfigError, match="2-D data"):
        decision_grid(np.zeros((4, 3)))


def test_build_takes_the_most_probable_class_and_blanks_a_diverged_network() -> None:
    xs, ys = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0])
    sure = np.zeros((2, 3, 3))  # (H, W, C): class = column index, probability 0.8
    for column in range(3):
        sure[:, column, column], sure[:, column, (column + 1) % 3] = 0.8, 0.2
    diverged = np.full((6, 3), np.nan)  # (H * W, C)
    data = build_decision_boundaries(
        ["a", "b"],
        [sure, diverged],
        xs,
        ys,
        points=[[0.0, 0.0], [2.0, 1.0]],
        classes=[0, 2],
        scores=[0.75, math.nan],
        statuses=["done", "diverged"],
        title="t",
        score_label="Validation accuracy (higher is better)",
    )
    assert data.panels[0].predicted == ((0, 1, 2), (0, 1, 2))
    assert data.panels[0].confidence == ((0.8,) * 3,) * 2
    assert data.panels[1].predicted == ((-1,) * 3,) * 2
    assert data.panels[0].title == "a\n0.75" and data.panels[1].title == "b\n(diverged)"
    assert data.n_classes == 3 and data.classes == (0, 2)
    assert data.to_json_dict()["panels"][1]["score"] is None  # JSON has no NaN
    with pytest.raises(ConfigError, match="grid needs"):
        build_decision_boundaries(["a"], [np.zeros((5, 3))], xs, ys, [[0, 0]], [0])
    with pytest.raises(ConfigError, match="one of each"):
        build_decision_boundaries(["a", "b"], [sure], xs, ys, [[0, 0]], [0])


def test_render_draws_one_panel_per_config() -> None:
    xs, ys, _ = decision_grid(np.array([[0.0, 0.0], [1.0, 1.0]]), resolution=4)
    grids = [np.full((16, 2), 0.5), np.tile([0.9, 0.1], (16, 1)), np.full((16, 2), np.nan)]
    data = build_decision_boundaries(
        ["x", "y", "z"], grids, xs, ys, [[0.0, 0.0], [1.0, 1.0]], [0, 1], title="three"
    )
    fig = render_decision_boundaries(data, columns=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["x", "y", "z"]
    assert len(fig.axes) == 4  # a 2 x 2 grid, the fourth hidden


@pytest.fixture(scope="module")
def spirals_sweep(tmp_path_factory: pytest.TempPathFactory) -> optiscope.SweepResult:
    store = Path(tmp_path_factory.mktemp("decision")) / "s.sqlite"
    return optiscope.sweep(
        dataset="spirals",
        n=300,
        noise=0.05,
        metric="accuracy",
        hidden=[(16, 16)],
        epochs=4,
        lr=[0.1, 0.01],
        store=store,
        name="spirals",
        workers=1,
    )


def test_a_sweep_draws_a_panel_per_config_from_the_networks_it_trained(
    spirals_sweep: optiscope.SweepResult,
) -> None:
    data = spirals_sweep.decision_data(resolution=12)
    assert [p.label for p in data.panels] == spirals_sweep.labels
    assert data.score_label == "Validation accuracy (higher is better)"
    assert len(data.xs) == len(data.ys) == 12 and len(data.points) == 90  # the valid split
    # the retrained networks are the sweep's: their validation accuracy is what it stored
    configs = [r.config for r in spirals_sweep.runs]
    dataset = make_dataset(configs[0].data)
    for config, state, run in zip(
        configs, trained_weights(configs, dataset), spirals_sweep.runs, strict=True
    ):
        model = _model(config, dataset)
        model.load_state_dict(state)
        with torch.no_grad():
            hits = (model(dataset.X_valid).argmax(1) == dataset.y_valid).sum().item()
        assert run.record is not None
        assert hits / dataset.n_valid == run.record.curve.valid_loss[-1]
    fig = spirals_sweep.plot_decision_boundaries(resolution=12)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2


def test_the_summary_ranks_accuracy_highest_first(spirals_sweep: optiscope.SweepResult) -> None:
    summary = spirals_sweep.summary()
    finals = list(summary["final_mean"])
    assert finals == sorted(finals, reverse=True)
    for _, row in summary.iterrows():
        group = [r for r in spirals_sweep.runs if r.labels.get("label") == row.config]
        assert group and group[0].record is not None
        assert row.best_mean == max(group[0].record.curve.valid_loss)


def test_a_regression_sweep_is_refused_with_the_2d_sets_named(tmp_path: Path) -> None:
    result = optiscope.sweep(epochs=1, n=100, lr=[0.1, 0.01], store=tmp_path / "s.sqlite")
    with pytest.raises(ConfigError, match="2-D classification set; friedman3 is a regression"):
        result.decision_data()
