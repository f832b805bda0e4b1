"""Races: same start, nothing added, the plain PyTorch loop's numbers, user step functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from optiscope import race
from optiscope.api import ROSENBROCK_SETTINGS
from optiscope.engine import PATH_OPTIMIZERS, STEP_FUNCTION_HELP, resolve_optimizer
from optiscope.errors import ConfigError
from optiscope.landscapes import Landscape, get_landscape
from optiscope.plotting import build_race, save_race_animation


def _plain_loop(
    f: Landscape,
    opt_class: type[torch.optim.Optimizer],
    kwargs: dict[str, Any],
    steps: int,
    start: tuple[float, float],
) -> list[tuple[float, float]]:
    """What a user would write: one (2,) parameter, zero_grad, forward, backward, step."""
    p = torch.tensor(start, requires_grad=True)
    opt = opt_class([p], **kwargs)
    positions = [tuple(p.tolist())]
    for _ in range(steps):
        opt.zero_grad()
        f(p[0], p[1]).backward()
        opt.step()
        positions.append(tuple(p.tolist()))
    return positions  # type: ignore[return-value]


def _positions(result: Any, index: int = 0) -> list[tuple[float, float]]:
    path = result.trajectories[index]
    return list(zip(path.x, path.y, strict=True))


def test_every_optimizer_starts_at_the_same_point_and_runs_deterministically() -> None:
    optimizers = ["momentum lr=0.01 beta=0.9", "sgd lr=0.01", "adam lr=0.1", "rmsprop lr=0.01"]
    first = race("himmelblau", optimizers, steps=80)
    second = race("himmelblau", optimizers, steps=80)
    pd.testing.assert_frame_equal(first.frame, second.frame)
    starts = first.frame[first.frame["step"] == 0]
    start = torch.tensor([-0.3, -0.9]).tolist()  # Himmelblau's start, in float32
    assert (starts["x"] == start[0]).all() and (starts["y"] == start[1]).all()
    assert list(first.frame["optimizer"].cat.categories) == first.labels


@pytest.mark.parametrize(
    ("spec", "opt_class", "kwargs"),
    [
        ("adam lr=0.1", torch.optim.Adam, {"lr": 0.1}),
        (
            "sgd lr=0.01 momentum=0.9 nesterov=true",
            torch.optim.SGD,
            {"lr": 0.01, "momentum": 0.9, "nesterov": True},
        ),
        ("rmsprop lr=0.01 alpha=0.9", torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9}),
        ((torch.optim.Adagrad, {"lr": 0.5}), torch.optim.Adagrad, {"lr": 0.5}),
    ],
)
def test_a_race_gives_the_plain_pytorch_loops_numbers(
    spec: Any, opt_class: type[torch.optim.Optimizer], kwargs: dict[str, Any]
) -> None:
    f = get_landscape("himmelblau")
    result = race(f, [spec], steps=150)
    assert _positions(result) == _plain_loop(f, opt_class, kwargs, 150, f.start)


@pytest.mark.parametrize(
    "spec",
    [
        "rmsprop lr=0.01",
        "rmsprop lr=0.01 alpha=0.9 momentum=0.5 centered=true weight_decay=0.1",
        "adagrad lr=0.5",
        "adagrad lr=0.5 lr_decay=0.01 initial_accumulator_value=0.1 weight_decay=0.1",
    ],
)
def test_registered_rmsprop_and_adagrad_walk_the_paths_torchs_classes_walk(spec: str) -> None:
    """Registering them changed no path: the registry's entry and torch's class as any other
    class runs it (``maximize=false`` is outside the schema, so it takes the generic path)
    give the same positions, label and title."""
    f = get_landscape("himmelblau")
    registered = race(f, [spec], steps=150)
    generic = race(f, [f"{spec} maximize=false"], steps=150)
    assert registered.optimizers[0].info is not None and generic.optimizers[0].info is None
    assert _positions(registered) == _positions(generic)
    assert registered.optimizers[0].title == generic.optimizers[0].title


@pytest.mark.parametrize(
    ("decay", "opt_class"), [("decoupled", torch.optim.AdamW), ("l2", torch.optim.Adam)]
)
def test_weight_decay_is_applied_as_torch_applies_it(
    decay: str, opt_class: type[torch.optim.Optimizer]
) -> None:
    """Adam plus decoupled decay is AdamW; Adam plus L2 decay is Adam's own weight_decay."""
    f = get_landscape("rosenbrock", b=2)
    result = race(f, ["adam lr=0.05"], steps=200, weight_decay=0.1, decay=decay)
    expected = _plain_loop(f, opt_class, {"lr": 0.05, "weight_decay": 0.1}, 200, f.start)
    assert _positions(result) == expected


def test_lbfgs_runs_with_its_closure() -> None:
    result = race("booth", ["lbfgs lr=1"], steps=5)
    assert result.summary()["distance"].iloc[0] < 1e-4


def test_a_user_step_function_works_and_gets_the_true_gradient() -> None:
    """A heavy ball written by hand, op for op the exercise's update, equals ExerciseMomentum."""

    def heavy_ball(
        position: torch.Tensor,
        grad: torch.Tensor,
        state: dict[str, Any],
        lr: float = 0.01,
        beta: float = 0.9,
    ) -> torch.Tensor:
        v = state.setdefault("v", torch.zeros_like(position))
        v.mul_(beta).add_(grad, alpha=1 - beta)
        return position.add(v, alpha=-lr)

    result = race(
        "rosenbrock a=1 b=2",
        [
            heavy_ball,
            (heavy_ball, {"lr": 0.02}),
            "momentum lr=0.01 beta=0.9",
            "momentum lr=0.02 beta=0.9",
        ],
        steps=200,
    )
    assert _positions(result, 0) == _positions(result, 2)
    assert _positions(result, 1) == _positions(result, 3)
    assert result.labels[:2] == ["heavy_ball", "heavy_ball (lr=0.02)"]


def test_bad_step_functions_say_how_to_write_one() -> None:
    def two_args(position: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return position - grad

    def wrong_shape(position: torch.Tensor, grad: torch.Tensor, state: dict) -> torch.Tensor:
        return position[:1]

    with pytest.raises(ConfigError, match="must take \\(position, grad, state\\)"):
        race("booth", [two_args], steps=3)
    with pytest.raises(ConfigError, match="returned shape \\(1,\\); it must return"):
        race("booth", [wrong_shape], steps=3)
    with pytest.raises(ConfigError, match="has no argument 'lr'"):
        race("booth", [(wrong_shape, {"lr": 0.1})], steps=3)
    assert "def step(position, grad, state" in STEP_FUNCTION_HELP


@pytest.mark.parametrize("name", sorted(PATH_OPTIMIZERS))
def test_every_registered_optimizer_reaches_the_rosenbrock_minimum(name: str) -> None:
    """Canonical Rosenbrock (b = 100) from (-1, 2), float32, with the documented settings."""
    assert name in ROSENBROCK_SETTINGS, f"document settings for {name} in ROSENBROCK_SETTINGS"
    settings = ROSENBROCK_SETTINGS[name]
    result = race("rosenbrock", [settings["optimizer"]], steps=settings["steps"])
    assert result.optimizers[0].name == name
    summary = result.summary().iloc[0]
    assert summary["status"] == "done" and summary["distance"] < 0.01


def test_a_diverging_optimizer_is_reported_and_drawn_up_to_there(tmp_path: Path) -> None:
    f = get_landscape("rosenbrock")
    result = race(f, ["sgd lr=0.01", "adam lr=0.02"], steps=100)
    diverged, fine = result.trajectories
    assert diverged.status == "diverged" and fine.status == "done"
    k = diverged.diverged_step
    assert k is not None and len(diverged.x) == k
    assert all(math.isfinite(v) for v in (*diverged.x, *diverged.y, *diverged.value))
    # the plain loop agrees: position k is where the value stops being finite
    positions = _plain_loop(f, torch.optim.SGD, {"lr": 0.01}, k, f.start)
    assert positions[:k] == _positions(result)
    assert not math.isfinite(float(f(torch.tensor(positions[k][0]), torch.tensor(positions[k][1]))))
    summary = result.summary()
    assert summary["diverged_step"].iloc[0] == k and math.isnan(summary["distance"].iloc[0])
    figure = result.plot()
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert f"SGD (lr=0.01) (diverged at step {k})" in legend
    assert result.to_gif(tmp_path / "diverged.gif", frames=8, progress=False).stat().st_size


def test_frame_distance_and_summary_agree() -> None:
    result = race("himmelblau", ["momentum lr=0.01 beta=0.9", "adam lr=0.1"], steps=200, tol=1e-2)
    frame, summary = result.frame, result.summary()
    f = result.landscape
    assert frame["distance"].tolist() == [
        float(f.distance_to_minimum(x, y)) for x, y in zip(frame["x"], frame["y"], strict=True)
    ]
    for label, row in zip(result.labels, summary.itertuples(), strict=True):
        path = frame[frame["optimizer"] == label]
        assert row.steps_to_tol == path.loc[path["distance"] < 1e-2, "step"].min()
        assert row.nearest_minimum == f.nearest_minimum(row.final_x, row.final_y)


def test_float64_runs_in_double_precision() -> None:
    single = race("rosenbrock a=1 b=2", ["adam lr=0.01"], steps=50)
    double = race("rosenbrock a=1 b=2", ["adam lr=0.01"], steps=50, dtype="float64")
    assert single.trajectories[0].x != double.trajectories[0].x
    # Two precisions of one path: they agree to float32's accuracy, not bit for bit.
    assert abs(single.trajectories[0].x[-1] - double.trajectories[0].x[-1]) < 1e-4


def test_every_problem_is_reported_before_anything_runs() -> None:
    with pytest.raises(ConfigError) as info:
        race("rosenbrock", ["adam lr=-1", "nadamx", "sgd lr=0.1"], steps=10)
    text = str(info.value)
    assert "optimizer 1 of 3: `lr` = -1 is outside (0, inf)" in text
    assert "optimizer 2 of 3: unknown optimizer 'nadamx'" in text
    assert text.endswith("Nothing was run.")
    for bad, match in [
        ({"fn": "nope"}, "unknown test function"),
        ({"steps": 0}, "`steps` = 0"),
        ({"start": (1, math.inf)}, "start = "),
        ({"decay": "l1", "weight_decay": 0.1}, "decay = 'l1'"),
        ({"weight_decay": -1}, "weight_decay = -1"),
        ({"dtype": "float16"}, "dtype = 'float16'"),
        ({"start": (1e30, 0.0)}, r"at the start \(1e\+30, 0\) is inf in float32"),
        ({"tol": -1}, "tol = -1 must be a finite number > 0"),
        ({"tol": math.nan}, "tol = nan must be a finite number > 0"),
        ({"tol": "x"}, "tol = 'x' must be a finite number > 0"),
    ]:
        arguments: dict[str, Any] = {"fn": "rosenbrock", "optimizers": ["adam"], **bad}
        with pytest.raises(ConfigError, match=match):
            race(**arguments)


def test_labels_are_unique_and_mappings_name_them() -> None:
    result = race("booth", {"fast": "adam lr=0.5", "slow": "adam lr=0.01"}, steps=5)
    assert result.labels == ["fast", "slow"]
    twice = race("booth", ["adam lr=0.5", "adam lr=0.5"], steps=5)
    assert twice.labels == ["Adam (lr=0.5)", "Adam (lr=0.5) #2"]


def test_resolve_maps_the_exercises_beta1_beta2() -> None:
    optimizer = resolve_optimizer("adamw beta1=0.5 beta2=0.99")
    assert optimizer.hparam_dict["betas"] == (0.5, 0.99)
    with pytest.raises(ConfigError, match=r"either betas=\.\.\. or beta1/beta2"):
        resolve_optimizer("adam betas=0.9,0.99 beta1=0.5")


def test_race_data_and_gif(tmp_path: Path) -> None:
    from PIL import Image

    result = race(
        "himmelblau", ["momentum", "sgd lr=0.01", "adam lr=0.1", "rmsprop lr=0.01"], steps=60
    )
    data = build_race(result.trajectories, result.landscape, start=result.start, steps=60)
    assert [line.label for line in data.lines] == result.labels
    for line, path in zip(data.lines, result.trajectories, strict=True):
        assert line.x == path.x and all(g > 0 for g in line.gap)
    calls: list[tuple[int, int]] = []
    path = save_race_animation(
        data, tmp_path / "race.gif", frames=12, progress=lambda i, n: calls.append((i, n))
    )
    with Image.open(path) as gif:
        frames = gif.n_frames
    assert frames == len(calls) and 2 <= frames <= 12
    assert path.stat().st_size < 1_000_000
    assert result.to_gif(tmp_path / "again.gif", frames=6, progress=False).exists()
    with pytest.raises(ConfigError, match=r"ending in \.gif"):
        result.to_gif(tmp_path / "race.mp4", progress=False)
    for bad, match in [
        ({"fps": 0}, "fps = 0 must be a whole number >= 1"),
        ({"fps": -1}, "fps = -1 must be a whole number >= 1"),
        ({"frames": 1}, "frames = 1 must be a whole number >= 2"),
        ({"dpi": 0.5}, "dpi = 0.5 must be a whole number >= 1"),
    ]:
        with pytest.raises(ConfigError, match=match):
            result.to_gif(tmp_path / "bad.gif", progress=False, **bad)  # type: ignore[arg-type]


def test_a_start_whose_value_overflows_float32_runs_in_float64() -> None:
    result = race("rosenbrock", ["sgd lr=1e-3"], start=(1e30, 0.0), steps=2, dtype="float64")
    assert result.trajectories[0].x[0] == 1e30


@pytest.mark.parametrize(
    ("spec", "cls", "kwargs"),
    [
        ((torch.optim.Adam, {"lr": 0.1, "amsgrad": True}), torch.optim.Adam, {"amsgrad": True}),
        ("adam lr=0.1 amsgrad=true", torch.optim.Adam, {"amsgrad": True}),
        ((torch.optim.SGD, {"lr": 0.1, "maximize": True}), torch.optim.SGD, {"maximize": True}),
        ("adamw lr=0.1 amsgrad=true", torch.optim.AdamW, {"amsgrad": True}),
    ],
)
def test_a_torch_setting_outside_the_registry_schema_runs_as_torch_runs_it(
    spec: Any, cls: type[torch.optim.Optimizer], kwargs: dict[str, Any]
) -> None:
    f = get_landscape("booth")
    result = race(f, [spec], steps=25, start=(0.0, 0.0))
    assert _positions(result) == _plain_loop(f, cls, {"lr": 0.1, **kwargs}, 25, (0.0, 0.0))
    assert result.optimizers[0].info is None  # the generic torch path, not the registry's


@pytest.mark.parametrize(
    "spec", ["asgd lr=inf", "adadelta lr=0.01 eps=nan", (torch.optim.ASGD, {"lr": -math.inf})]
)
def test_generic_torch_classes_refuse_non_finite_settings(spec: Any) -> None:
    with pytest.raises(ConfigError, match="must be finite"):
        race("booth", [spec], steps=2)


def test_the_unknown_optimizer_message_lists_only_classes_that_walk_a_point() -> None:
    with pytest.raises(ConfigError, match="unknown optimizer 'nope'") as info:
        race("booth", ["nope"], steps=2)
    listed = str(info.value).split("any torch.optim class (")[1].split(")")[0].split(", ")
    assert "asgd" in listed and "muon" not in listed and "sparseadam" not in listed
    assert "rmsprop" not in listed and "nadam" not in listed  # registered: in the first list
    for name in listed:  # every listed class really runs on a 2-D point
        assert race("booth", [f"{name} lr=0.01"], steps=2).trajectories[0].x


def test_an_optimizers_own_decay_and_the_races_are_not_stacked() -> None:
    with pytest.raises(ConfigError, match=r"has its own weight_decay = 0\.01 and the race adds"):
        race("booth", ["adamw lr=0.1"], steps=2, weight_decay=0.1)
    alone = race("booth", ["adamw lr=0.1 weight_decay=0"], steps=5, weight_decay=0.1)
    own = race("booth", ["adamw lr=0.1 weight_decay=0.1"], steps=5)
    assert alone.trajectories[0].x == own.trajectories[0].x  # the same decoupled decay
