"""The playground's data (optiscope.api.playground_*): exact paths, the cache, the map, limits."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optiscope.api._playground as playground_module
from optiscope import race, weight_decay_bias
from optiscope.api import (
    MAX_PLAYGROUND_OPTIMIZERS,
    MAX_PLAYGROUND_STEPS,
    SweepResult,
    playground_curves,
    playground_map,
    playground_paths,
    playground_spec,
    playground_surface,
    train_playground,
)
from optiscope.engine import PATH_OPTIMIZERS
from optiscope.errors import ConfigError
from optiscope.landscapes import get_landscape

SIX = [
    "momentum lr=0.01 beta=0.9",
    "sgd lr=0.001 momentum=0.9",
    "adam lr=0.1",
    "adamw lr=0.05 weight_decay=0",
    "rmsprop lr=0.01",
    "adagrad lr=0.4",
]


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    playground_module._CACHE.clear()


def test_every_path_equals_the_race_of_that_optimizer_alone_bit_for_bit() -> None:
    rates = [0.0, 0.0, 0.0, 0.1, 0.0, 0.0]
    result = playground_paths("rosenbrock a=1 b=2", SIX, start=(-1.5, 2.5), steps=200,
                              weight_decay=rates)  # fmt: skip
    assert len(result.trajectories) == 6
    for text, rate, path in zip(SIX, rates, result.trajectories, strict=True):
        alone = race("rosenbrock a=1 b=2", [text], start=(-1.5, 2.5), steps=200, weight_decay=rate,
                     dtype="float64")  # fmt: skip
        (expected,) = alone.trajectories
        assert path.x == expected.x and path.y == expected.y  # max difference 0.0
        assert path.value == expected.value
        assert path.status == expected.status
        assert len(path.x) == 201


def test_two_of_a_kind_run_batched_and_each_still_equals_its_race() -> None:
    texts = ["adam lr=0.1", "adam lr=0.01 betas=0.5,0.9"]
    result = playground_paths("himmelblau", texts, steps=120)
    for text, path in zip(texts, result.trajectories, strict=True):
        (expected,) = race("himmelblau", [text], steps=120, dtype="float64").trajectories
        assert path.x == expected.x and path.y == expected.y


def test_a_slider_move_recomputes_only_the_optimizer_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = playground_module.run_grid

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[2]))  # configs in this batched run
        return real(*args, **kwargs)

    monkeypatch.setattr(playground_module, "run_grid", counting)
    playground_paths("rosenbrock", SIX, steps=50)
    assert sorted(calls) == [1] * 6  # six kinds, one batched run each
    calls.clear()
    moved = [*SIX[:2], "adam lr=0.2", *SIX[3:]]
    again = playground_paths("rosenbrock", moved, steps=50)
    assert calls == [1]
    (expected,) = race("rosenbrock", ["adam lr=0.2"], steps=50, dtype="float64").trajectories
    assert again.trajectories[2].x == expected.x


BATCHED = [name for name, info in PATH_OPTIMIZERS.items() if info.vectorizable]


@pytest.mark.parametrize("decay", ["none", "decoupled", "l2"])
@pytest.mark.parametrize("name", BATCHED)
def test_every_registered_optimizer_s_path_equals_its_race_with_and_without_decay(
    name: str, decay: str
) -> None:
    """The playground's path (batched engine, explicit gradient) against race's (torch.optim
    and autograd, one step after another): max difference 0.0, decay or not."""
    assert {"nadam", "radam", "adamax"} <= set(BATCHED)
    rate, kind = (0.0, "decoupled") if decay == "none" else (0.05, decay)
    text = f"{name} lr=0.01"
    if rate and PATH_OPTIMIZERS[name].defaults.get("weight_decay"):
        text += " weight_decay=0"  # AdamW's own 0.01 is its "with decay" case; one decay at a time
    result = playground_paths("rosenbrock a=1 b=2", [text], start=(-1.5, 2.5), steps=150,
                              weight_decay=rate, decay=kind)  # fmt: skip
    (expected,) = race("rosenbrock a=1 b=2", [text], start=(-1.5, 2.5), steps=150,
                       weight_decay=rate, decay=kind, dtype="float64").trajectories  # fmt: skip
    (path,) = result.trajectories
    assert path.status == expected.status == "done"
    assert path.x == expected.x and path.y == expected.y
    assert path.value == expected.value


def test_the_json_text_is_the_json_dict_with_cached_paths_encoded_once() -> None:
    texts = ["sgd lr=0.5", "adam lr=0.1"]  # the first diverges: its values end in null
    first = playground_paths("rosenbrock", texts, steps=100, weight_decay=[0.0, 0.05])
    assert json.loads(first.to_json_text()) == first.to_json_dict()
    assert first.to_json_dict()["paths"][1]["fixed_point"] is not None
    again = playground_paths("rosenbrock", [texts[1], "adagrad lr=0.4"], steps=100,
                             weight_decay=[0.05, 0.0])  # fmt: skip
    assert again.encoded[0] is first.encoded[1]  # from the cache, not encoded again
    assert json.loads(again.to_json_text()) == again.to_json_dict()


def test_the_json_has_no_nan_and_marks_a_diverged_path() -> None:
    data = playground_paths("rosenbrock", ["sgd lr=0.5"], steps=100).to_json_dict()
    (path,) = data["paths"]
    assert path["status"] == "diverged"
    assert all(v is None or math.isfinite(v) for v in path["value"])
    assert len(path["x"]) == path["diverged_step"]


def test_the_fixed_point_is_weight_decay_bias_s() -> None:
    result = playground_paths("rosenbrock a=1 b=2", ["momentum lr=0.01 beta=0.9"], steps=300,
                              weight_decay=0.05)  # fmt: skip
    expected = weight_decay_bias(
        "rosenbrock a=1 b=2", [0.05], optimizer="momentum lr=0.01 beta=0.9", steps=300
    )
    (fixed,) = result.fixed_points
    assert fixed is not None
    assert (fixed.x, fixed.y) == (expected.fixed_points[0].x, expected.fixed_points[0].y)
    point = result.to_json_dict()["paths"][0]["fixed_point"]
    assert point["x"] == fixed.x and point["rule"] == "gradient"


def test_no_decay_no_fixed_point_and_an_uncovered_optimizer_says_why() -> None:
    result = playground_paths("rosenbrock", ["adam lr=0.1", "adagrad lr=0.4"], steps=20,
                              weight_decay=[0.0, 0.1])  # fmt: skip
    assert result.fixed_points == (None, None)
    assert result.fixed_notes[0] == ""
    assert "Adagrad" in result.fixed_notes[1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizers": [*SIX, "adam"]}, "at most 6"),
        ({"steps": MAX_PLAYGROUND_STEPS + 1}, "limit of 500"),
        ({"steps": 0}, "whole number >= 1"),
        ({"weight_decay": [0.1, 0.2]}, "2 weight_decay values for 6 optimizers"),
        ({"optimizers": ["adamw lr=0.1"], "weight_decay": 0.1}, "its own weight_decay"),
        ({"optimizers": ["adam lr=-1"]}, "lr"),
        ({"start": (math.nan, 0.0)}, "two finite numbers"),
    ],
)
def test_refusals_run_nothing(kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {"optimizers": SIX, **kwargs}
    optimizers = arguments.pop("optimizers")
    with pytest.raises(ConfigError, match=match):
        playground_paths("rosenbrock", optimizers, **arguments)
    assert len(playground_module._CACHE._paths) == 0
    assert MAX_PLAYGROUND_OPTIMIZERS == 6


def test_each_map_cell_ends_where_the_playground_path_with_its_settings_ends() -> None:
    grid = playground_map("rosenbrock a=1 b=2", "adam", lr=(1e-3, 0.3), side=4, steps=80)
    assert (grid.x_name, grid.y_name) == ("lr", "beta1")
    assert grid.x_values[0] == pytest.approx(1e-3) and grid.x_values[-1] == pytest.approx(0.3)
    for row, beta1 in enumerate(grid.y_values):
        for column, lr in enumerate(grid.x_values):
            (path,) = playground_paths(
                "rosenbrock a=1 b=2", [("adam", {"lr": lr, "beta1": beta1})], steps=80
            ).trajectories
            cell = row * len(grid.x_values) + column
            if path.status == "done":
                assert grid.run.final_x[cell] == path.x[-1]
                assert grid.run.final_y[cell] == path.y[-1]
            else:
                assert grid.run.diverged_step[cell] == path.diverged_step


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"side": 33}, "from 2 to 32"),
        ({"lr": (0.1, 0.01)}, "0 < low < high"),
        ({"beta": (0.9, 0.5)}, "low < high"),
        ({"steps": 501}, "limit of 500"),
    ],
)
def test_map_refusals(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        playground_map("rosenbrock", "momentum", **kwargs)


def test_the_surface_is_the_function_on_the_grid() -> None:
    data = playground_surface("himmelblau", n=11)
    landscape = get_landscape("himmelblau")
    x, y = data["x"][3], data["y"][7]
    assert data["z"][7][3] == pytest.approx(float(landscape(np.float64(x), np.float64(y))))
    assert data["minima"][0] == [3.0, 2.0]
    with pytest.raises(ConfigError, match="from 8 to 300"):
        playground_surface("himmelblau", n=1000)


def test_the_training_curves_average_the_stored_seeds(tmp_path: Path) -> None:
    spec = playground_spec(epochs=2, seeds=2, grid={"lr": (0.01, 0.1), "beta1": (0.9,),
                                                    "weight_decay": (0.0,)})  # fmt: skip
    store = tmp_path / "store.sqlite"
    train_playground(spec, store=store)
    data = playground_curves(SweepResult.load("playground", store=store))
    assert data["values"]["lr"] == [0.01, 0.1]
    assert len(data["configs"]) == 2
    records = SweepResult.load("playground", store=store).records
    for config in data["configs"]:
        seeds = [
            r.curve.valid_loss
            for r in records
            if r.config.hparam_dict["lr"] == config["settings"]["lr"]
        ]
        assert len(seeds) == 2 == config["seeds"]
        assert config["mean"] == pytest.approx(np.mean(seeds, axis=0).tolist(), rel=1e-12)
        assert config["sd"] == pytest.approx(np.std(seeds, axis=0, ddof=1).tolist(), rel=1e-12)


#: The sections of docs/web.md these tests own (their examples run here).
DOC_SECTIONS = ("## Landscape playground", "## Launching a sweep from the page")


def test_the_examples_of_docs_web_md_run() -> None:
    from doc_pages import FENCE, ROOT

    text = (ROOT / "docs" / "web.md").read_text()
    ran = 0
    for part in text.split("\n## ")[1:]:
        if not any(part.startswith(title.removeprefix("## ")) for title in DOC_SECTIONS):
            continue
        for language, body in FENCE.findall(part):
            if language == "python":
                exec(compile(body, "docs/web.md", "exec"), {})
                ran += 1
    assert ran >= 1
