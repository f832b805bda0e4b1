"""The settings registry is the one source: flags, keyword arguments, spec keys, defaults and
the docs table are generated from it or fail here when they drift."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import click
import pytest

from optiscope import compare_configs, sweep
from optiscope.cli._compare import compare_command
from optiscope.cli._sweeps import sweep_command
from optiscope.data import GENERATORS
from optiscope.engine._metrics import METRICS
from optiscope.models import ACTIVATIONS
from optiscope.optim import OPTIMIZERS, get_optimizer
from optiscope.records import DataSpec, RunConfig
from optiscope.settings import (
    BETA_PARTS,
    COMPARED,
    EXERCISE,
    OPTIMIZER_DEFAULT,
    SETTINGS,
    Metric,
    default,
)
from optiscope.sweeps import SweepSpec

ROOT = Path(__file__).resolve().parents[1]


def _flags(command: click.Command) -> dict[str, click.Option]:
    return {
        param.name: param
        for param in command.params
        if isinstance(param, click.Option) and param.name in SETTINGS
    }


def test_sweep_flags_are_every_setting_in_registry_order() -> None:
    flags = _flags(sweep_command)
    assert list(flags) == list(SETTINGS)
    for name, option in flags.items():
        assert option.opts == [SETTINGS[name].flag]
        assert SETTINGS[name].help[1:] in (option.help or ""), name


def test_compare_flags_show_the_exercise_defaults() -> None:
    flags = _flags(compare_command)
    assert set(COMPARED) <= set(flags)
    for name in COMPARED:
        assert f"[default: {EXERCISE[name]:g}]" in (flags[name].help or ""), name


def test_sweep_keyword_arguments_are_the_settings() -> None:
    parameters = inspect.signature(sweep).parameters
    assert set(SETTINGS) <= set(parameters)
    others = set(parameters) - set(SETTINGS)
    assert others == {
        "spec", "seeds", "configs", "name", "store", "engine", "device", "workers", "progress",
        "max_configs", "extend", "backend",
    }  # fmt: skip


def test_compare_configs_defaults_are_the_exercise_defaults() -> None:
    parameters = inspect.signature(compare_configs).parameters
    for name in (*COMPARED, "epochs", "seed"):
        assert parameters[name].default == EXERCISE[name], name
    for name in ("hidden", "activation", "shuffle"):
        assert parameters[name].default == default(name), name
    # None: the data set's own, the registry's default for its task (rmse for friedman3)
    assert parameters["metric"].default is None
    assert Metric.default_for("regression") == default("metric")


def test_spec_files_take_exactly_the_settings() -> None:
    for name in SETTINGS:
        assert not any("not a sweep setting" in p for p in SweepSpec(fixed={name: 1}).problems())
    problems = SweepSpec(fixed={"learning_rate": 0.1}).problems()
    assert any("`learning_rate` is not a sweep setting; did you mean `lr`?" in p for p in problems)


def test_run_config_and_data_spec_defaults_come_from_the_registry() -> None:
    config = {f.name: f.default for f in fields(RunConfig)}
    for name in ("optimizer", "batch_size", "epochs", "seed", "hidden", "activation"):
        assert config[name] == default(name), name
    assert (config["metric"], config["shuffle"]) == (default("metric"), default("shuffle"))
    data = DataSpec()
    assert (data.name, data.n, data.sd, data.seed) == (
        default("dataset"), default("n"), default("noise"), default("data_seed"),
    )  # fmt: skip
    assert (data.train_fraction, data.standardize, data.d) == (
        default("train_fraction"), default("standardize"), default("d"),
    )  # fmt: skip


def test_choices_are_what_the_implementations_register() -> None:
    assert SETTINGS["optimizer"].choices == tuple(OPTIMIZERS)
    assert SETTINGS["activation"].choices == tuple(ACTIVATIONS)
    assert SETTINGS["metric"].choices == tuple(METRICS)
    assert SETTINGS["dataset"].choices == tuple(GENERATORS)


def test_every_hyperparameter_setting_is_taken_by_some_optimizer() -> None:
    taken = {spec.name for name in OPTIMIZERS for spec in get_optimizer(name).hparams}
    for name, setting in SETTINGS.items():
        if setting.target == "hparam":
            assert setting.default is OPTIMIZER_DEFAULT
            assert (name in taken) or (name in BETA_PARTS and "betas" in taken), name
    assert taken <= set(SETTINGS)


def test_the_registry_imports_no_torch() -> None:
    code = "import sys, optiscope.settings; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_docs_settings_table_is_the_registry() -> None:
    path = ROOT / "docs" / "make_settings_table.py"
    spec = importlib.util.spec_from_file_location("make_settings_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.PAGE.read_text(encoding="utf-8")
    assert module.page_with_table(text) == text, "run python docs/make_settings_table.py"
    for name in SETTINGS:
        assert f"| `{name}` |" in text


@pytest.mark.parametrize("name", ["beta1", "beta2"])
def test_the_beta_alias_maps_onto_betas_once(name: str) -> None:
    """``beta1``/``beta2`` set one half of torch's ``betas``; the other keeps its default."""
    (point,) = SweepSpec(fixed={name: 0.5, "n": 200}).expand()
    pair = list(get_optimizer("adamw").defaults["betas"])
    pair[BETA_PARTS[name]] = 0.5
    assert point.config.hparam_dict["betas"] == tuple(pair)
