"""The playground's JavaScript step rules (``web/static/pathsteps.js``) against Python, in float64.

The JS runs in Debian's Chromium (Playwright, the module added to a blank page: no server); the
reference is :func:`optiscope.race` with ``dtype="float64"`` (``torch.optim`` and autograd). The
tolerance is 1e-12 on every number, relative where the number is large: ``|js - python| <=
1e-12 * max(1, |python|)`` (:data:`TOL`). Three kinds of checks:

- every registered function's value and gradient at many points;
- one step from each position of Python's path (the optimizer's state carried along), so a
  chaotic path cannot hide a wrong rule behind amplified rounding;
- whole paths of the playground's 500 steps run freely, for every registered optimizer (each
  of its options) on every registered function, with and without the run's weight decay in
  both modes, including a diverging run. Where a path amplifies a last-bit difference (an
  optimizer hovering around a minimum with steps of about lr whatever the gradient), Python's
  own path moves by more than 1e-12 when its lr changes by one unit in the last place; there
  the JS must stay within that (:func:`_own_sensitivity`).

The lists of functions and optimizers come from Python's registries: a function or optimizer
registered without a JS rule fails here. A deliberately wrong rule is shown to fail too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from optiscope import race
from optiscope.api import MAX_PLAYGROUND_STEPS
from optiscope.engine import PATH_OPTIMIZERS, resolve_optimizer
from optiscope.landscapes import LANDSCAPES, get_landscape
from web_server import browser

__all__ = ["browser"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parents[1] / "src" / "optiscope" / "web" / "static" / "pathsteps.js"

#: The agreement promised: 1e-12, relative to the number where it is above 1 in size.
TOL = 1e-12

#: Settings for every registered optimizer, so that each of its options runs at least once
#: (momentum, dampening, Nesterov, centered, lr decay, the accumulator's start, the momentum
#: schedule, decoupled or L2 decay of its own). A new optimizer needs a line here.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "momentum": [{"lr": 0.001, "beta": 0.9}, {"lr": 0.0005, "beta": 0.5}],
    "sgd": [
        {"lr": 0.001},
        {"lr": 0.001, "momentum": 0.9},
        {"lr": 0.001, "momentum": 0.9, "nesterov": True},
        {"lr": 0.001, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1},
    ],
    "adam": [{"lr": 0.02}, {"lr": 0.05, "betas": (0.5, 0.9), "weight_decay": 0.1}],
    "adamw": [{"lr": 0.02, "weight_decay": 0.0}, {"lr": 0.02}],  # AdamW's own 0.01
    "rmsprop": [
        {"lr": 0.001},
        {"lr": 0.001, "momentum": 0.9},
        {"lr": 0.001, "centered": True},
        {"lr": 0.0005, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
    ],
    "adagrad": [
        {"lr": 0.4},
        {"lr": 0.2, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.05},
    ],
    "nadam": [
        {"lr": 0.005},
        {"lr": 0.005, "momentum_decay": 0.01, "weight_decay": 0.1},
        {"lr": 0.005, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ],
    "radam": [
        {"lr": 0.001, "betas": (0.9, 0.99)},
        {"lr": 0.001, "betas": (0.9, 0.99), "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.001, "weight_decay": 0.1},
    ],
    "adamax": [{"lr": 0.05}, {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.1}],
}

#: The run's own extra decay (what the playground's weight-decay slider sets), in both modes.
DECAYS: list[tuple[float, str]] = [(0.0, "decoupled"), (0.05, "decoupled"), (0.05, "l2")]

#: Functions and starts for whole paths: Rosenbrock as the course has it (b = 2) and the
#: canonical one, and each other registered function from its own start. The run's decay
#: (which does not depend on the function) runs on the first three.
FUNCTIONS: list[tuple[str, dict[str, float], tuple[float, float] | None]] = [
    ("rosenbrock", {"a": 1.0, "b": 2.0}, (-1.5, 2.5)),
    ("rosenbrock", {"a": 1.0, "b": 100.0}, (-1.0, 2.0)),
    ("beale", {}, None),
    ("himmelblau", {}, None),
    ("rastrigin", {"A": 10.0}, None),
    ("booth", {}, None),
    ("quadratic", {"condition": 10.0}, None),
    ("saddle", {}, None),
]


@pytest.fixture(scope="module")
def js(browser: Any) -> Iterator[Any]:
    """A blank page with pathsteps.js loaded (``window.optiscopePaths``)."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.add_script_tag(content=SCRIPT.read_text())
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"the page logged errors: {errors}"


def _worst(got: Sequence[float], expected: Sequence[float]) -> float:
    """The largest difference, relative where the expected number is above 1 in size."""
    assert len(got) == len(expected)
    if not expected:
        return 0.0
    a, b = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def _hparams(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The complete hyperparameters Python runs with (defaults filled in), JSON-ready."""
    resolved = resolve_optimizer((name, dict(settings)))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in resolved.hparam_dict.items()}


def _cases() -> list[dict[str, Any]]:
    """Every optimizer variant x function without the run's decay, and x the first three
    functions with it in both modes (a variant with its own weight decay runs without the
    run's: the two would add up, and race refuses that)."""
    cases = []
    for name, variants in VARIANTS.items():
        for settings in variants:
            own = _hparams(name, settings).get("weight_decay", 0)
            for index, (function, params, start) in enumerate(FUNCTIONS):
                for rate, decay in DECAYS:
                    if rate and (own or index >= 3):
                        continue
                    cases.append(
                        {
                            "function": function,
                            "params": params,
                            "optimizer": name,
                            "settings": settings,
                            "start": start or get_landscape(function).start,
                            "weight_decay": rate,
                            "decay": decay,
                        }
                    )
    return cases


def _python_path(case: Mapping[str, Any], steps: int) -> Any:
    spec = " ".join([case["function"], *(f"{k}={v!r}" for k, v in case["params"].items())])
    (path,) = race(
        spec,
        [(case["optimizer"], dict(case["settings"]))],
        start=case["start"],
        steps=steps,
        weight_decay=case["weight_decay"],
        decay=case["decay"],
        dtype="float64",
    ).trajectories
    return path


def _js_spec(case: Mapping[str, Any], steps: int) -> dict[str, Any]:
    return {
        "function": case["function"],
        "params": case["params"],
        "optimizer": case["optimizer"],
        "hparams": _hparams(case["optimizer"], case["settings"]),
        "start": list(case["start"]),
        "steps": steps,
        "weight_decay": case["weight_decay"],
        "decay": case["decay"],
    }


def test_the_js_covers_every_registered_function_and_optimizer_with_its_hyperparameters(
    js: Any,
) -> None:
    functions = js.evaluate("() => optiscopePaths.functions")
    optimizers = js.evaluate("() => optiscopePaths.optimizers")
    assert {name: sorted(f.param_dict) for name, f in LANDSCAPES.items()} == {
        name: sorted(params) for name, params in functions.items()
    }
    assert {name: sorted(info.defaults) for name, info in PATH_OPTIMIZERS.items()} == {
        name: sorted(names) for name, names in optimizers.items()
    }
    assert set(VARIANTS) == set(PATH_OPTIMIZERS)  # every optimizer is compared below


def test_a_setting_the_js_does_not_know_is_left_to_the_server(js: Any) -> None:
    spec = _js_spec(_cases()[0], 5)
    assert js.evaluate("(s) => optiscopePaths.uncovered(s)", spec) is None
    unknown = {**spec, "hparams": {**spec["hparams"], "amsgrad": True}}
    assert "takes exactly" in js.evaluate("(s) => optiscopePaths.uncovered(s)", unknown)
    assert "no JS rule" in js.evaluate(
        "(s) => optiscopePaths.uncovered(s)", {**spec, "optimizer": "lbfgs"}
    )


@pytest.mark.parametrize("name", list(LANDSCAPES))
def test_each_function_s_value_and_gradient_equal_autograd_s(js: Any, name: str) -> None:
    landscape = LANDSCAPES[name]
    variants = [landscape.param_dict]
    if landscape.params:  # and other parameters than the defaults
        variants.append({k: v * 1.7 + 0.3 for k, v in landscape.param_dict.items()})
    rng = np.random.default_rng(11)
    (x_low, x_high), (y_low, y_high) = landscape.domain
    points = np.column_stack(
        [rng.uniform(x_low, x_high, 300), rng.uniform(y_low, y_high, 300)]
    ).tolist()
    for params in variants:
        function = landscape.with_params(**params)
        got = js.evaluate(
            "([n, p, pts]) => optiscopePaths.gradients(n, p, pts)", [name, params, points]
        )
        expected = []
        for x, y in points:  # as run_path evaluates: a (2,) float64 tensor, autograd
            p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
            value = function(p[0], p[1])
            value.backward()
            assert p.grad is not None
            expected.append([float(value.detach()), float(p.grad[0]), float(p.grad[1])])
        worst = _worst(np.ravel(got).tolist(), np.ravel(expected).tolist())
        print(f"{name} {params}: worst difference {worst:.3g}")
        assert worst <= TOL, (name, params, worst)


@pytest.fixture(scope="module")
def compared(js: Any) -> list[dict[str, Any]]:
    """Every case of :func:`_cases`: Python's path (the playground's 500 steps), the JS's
    free path, and the JS's step from each of Python's positions, with the worst differences."""
    steps = MAX_PLAYGROUND_STEPS
    cases = _cases()
    pythons = [_python_path(case, steps) for case in cases]
    specs = [_js_spec(case, steps) for case in cases]
    free = js.evaluate("(specs) => specs.map((s) => optiscopePaths.runPath(s))", specs)
    forced = js.evaluate(
        "([specs, paths]) => specs.map((s, i) => optiscopePaths.stepsFrom(s, paths[i][0], "
        "paths[i][1]))",
        [specs, [[list(p.x), list(p.y)] for p in pythons]],
    )
    results = []
    for case, python, run, one in zip(cases, pythons, free, forced, strict=True):
        results.append(
            {
                "case": case,
                "python": python,
                "js": run,
                "free": max(
                    _worst(run["x"], python.x),
                    _worst(run["y"], python.y),
                    _worst(run["value"], python.value),
                )
                if len(run["x"]) == len(python.x)
                else math.inf,
                "step": max(
                    _worst(one["x"], python.x[1:]),
                    _worst(one["y"], python.y[1:]),
                    _worst(one["value"], python.value[: len(one["value"])]),
                ),
                "exact": one["x"] == list(python.x[1:]) and one["y"] == list(python.y[1:]),
            }
        )
    exact = sum(r["exact"] for r in results)
    within = [r["free"] for r in results if r["free"] <= TOL]
    print(
        f"{len(results)} cases: worst step {max(r['step'] for r in results):.3g}, {exact} "
        f"with every step bit-identical; {len(within)} free paths within {TOL:g} (worst "
        f"{max(within):.3g}), worst free path {max(r['free'] for r in results):.3g}"
    )
    return results


def test_every_case_covers_every_optimizer_function_and_decay_mode(
    compared: list[dict[str, Any]],
) -> None:
    cases = [r["case"] for r in compared]
    assert {c["optimizer"] for c in cases} == set(PATH_OPTIMIZERS)
    assert {c["function"] for c in cases} == set(LANDSCAPES)
    assert {(c["weight_decay"] > 0, c["decay"]) for c in cases} == {
        (False, "decoupled"),
        (True, "decoupled"),
        (True, "l2"),
    }
    assert len(cases) > 250


def test_one_step_from_each_of_python_s_positions_equals_python_s_next_position(
    compared: list[dict[str, Any]],
) -> None:
    """The rules checked where chaos cannot hide anything: each step starts from Python's
    own position (the optimizer's state carried along in JS)."""
    failing = [(r["case"], r["step"]) for r in compared if not r["step"] <= TOL]
    assert failing == []


def _own_sensitivity(case: Mapping[str, Any], python: Any) -> float:
    """How far Python's own path moves when its lr changes by one unit in the last place."""
    settings = dict(case["settings"])
    settings["lr"] = float(np.nextafter(settings["lr"], 1.0))
    nudged = _python_path({**case, "settings": settings}, len(python.value) - 1)
    if len(nudged.x) != len(python.x):
        return math.inf
    return max(_worst(nudged.x, python.x), _worst(nudged.y, python.y))


def test_whole_paths_equal_race_s_in_float64(compared: list[dict[str, Any]]) -> None:
    """Within 1e-12, or, on a path that amplifies a last-bit difference beyond that, within
    what a one-ulp change of lr does to Python's own path."""
    for result in compared:
        python, run = result["python"], result["js"]
        assert run["status"] == python.status, result["case"]
        assert run["diverged_step"] == python.diverged_step, result["case"]
    amplified = []
    for result in compared:
        if result["free"] <= TOL:
            continue
        own = _own_sensitivity(result["case"], result["python"])
        amplified.append((result["case"], result["free"], own))
        print(f"amplified: JS {result['free']:.3g}, Python's own under 1 ulp of lr {own:.3g}")
    assert [(case, free, own) for case, free, own in amplified if not free <= own] == []
    assert len(amplified) <= len(compared) // 20  # the exception, not the rule


def test_a_diverging_run_stops_where_python_s_does(js: Any) -> None:
    case = {
        "function": "rosenbrock",
        "params": {"a": 1.0, "b": 100.0},
        "optimizer": "sgd",
        "settings": {"lr": 0.5},
        "start": (-1.0, 2.0),
        "weight_decay": 0.0,
        "decay": "decoupled",
    }
    python = _python_path(case, 100)
    assert python.status == "diverged"
    run = js.evaluate("(s) => optiscopePaths.runPath(s)", _js_spec(case, 100))
    assert (run["status"], run["diverged_step"]) == ("diverged", python.diverged_step)
    assert run["x"] == list(python.x) and run["value"] == list(python.value)


def test_a_wrong_rule_fails_the_comparison(browser: Any) -> None:
    """The per-step check catches an error far below what a picture would show: Adam with its
    first moment's weight off by 1e-9."""
    source = SCRIPT.read_text()
    wrong = source.replace("lerp(s.m[i], g[i], 1 - beta1)", "lerp(s.m[i], g[i], 1 - beta1 + 1e-9)")
    assert wrong != source
    case = {
        "function": "rosenbrock",
        "params": {"a": 1.0, "b": 2.0},
        "optimizer": "adam",
        "settings": {"lr": 0.02},
        "start": (-1.5, 2.5),
        "weight_decay": 0.0,
        "decay": "decoupled",
    }
    python = _python_path(case, 100)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_script_tag(content=wrong)
        one = page.evaluate(
            "([s, xs, ys]) => optiscopePaths.stepsFrom(s, xs, ys)",
            [_js_spec(case, 100), list(python.x), list(python.y)],
        )
    finally:
        context.close()
    assert _worst(one["x"], python.x[1:]) > TOL
