"""SweepSpec: expansion, checks before anything runs, and round trips through files."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from optiscope.errors import ConfigError
from optiscope.optim import get_optimizer
from optiscope.records import ScheduleSpec
from optiscope.settings import SCHEDULES, SETTINGS
from optiscope.sweeps import SweepSpec

SMALL = {"epochs": 2, "n": 200, "hidden": (8,)}


def test_a_grid_expands_to_every_combination_with_seeds_innermost() -> None:
    grid = {"lr": [0.1, 0.01, 0.001], "weight_decay": [0.0, 0.1]}
    spec = SweepSpec(grid=grid, fixed=SMALL, seeds=4)
    points = spec.expand()
    expected = [
        (lr, wd, seed)
        for lr, wd in itertools.product(grid["lr"], grid["weight_decay"])
        for seed in range(4)
    ]
    assert spec.size == len(points) == len(expected) == 24
    assert spec.describe() == "3 lr × 2 weight_decay × 4 seeds = 24 configs"
    got = [
        (p.config.hparam_dict["lr"], p.config.hparam_dict["weight_decay"], p.seed) for p in points
    ]
    assert got == expected
    assert [p.number for p in points] == list(range(1, 25))
    assert all(p.config.seed == p.seed for p in points)
    assert points[5].label == "lr = 0.1, weight_decay = 0.1"
    assert points[5].labels == {
        "settings": {"lr": 0.1, "weight_decay": 0.1},
        "seed": 1,
        "label": "lr = 0.1, weight_decay = 0.1",
    }


def test_seeds_are_paired_across_configs() -> None:
    points = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed=SMALL, seeds=[3, 7]).expand()
    by_seed = {seed: [p.config for p in points if p.seed == seed] for seed in (3, 7)}
    for seed, configs in by_seed.items():
        # Same seed: same init and batch order; only the swept setting differs.
        assert {c.replace(hparams={"lr": 1.0}) for c in configs} == {
            configs[0].replace(hparams={"lr": 1.0})
        }
        assert all(c.seed == seed for c in configs)


def test_hyperparameters_are_completed_and_normalized() -> None:
    (point,) = SweepSpec(fixed={**SMALL, "lr": 1, "weight_decay": 0}).expand()
    defaults = get_optimizer("adamw").defaults
    assert point.config.hparam_dict == {**defaults, "lr": 1.0, "weight_decay": 0.0}
    (same,) = SweepSpec(fixed={**SMALL, "lr": 1.0, "weight_decay": 0.0}).expand()
    assert same.config.key() == point.config.key()
    assert point.config.seed == 123  # the exercise's seed when no seeds are given


def test_beta1_and_beta2_map_onto_betas() -> None:
    points = SweepSpec(grid={"beta1": [0.5, 0.9]}, fixed={**SMALL, "beta2": 0.99}).expand()
    assert [p.config.hparam_dict["betas"] for p in points] == [(0.5, 0.99), (0.9, 0.99)]
    (direct,) = SweepSpec(fixed={**SMALL, "betas": (0.5, 0.99)}).expand()
    assert direct.config == points[0].config


def test_an_optimizer_sweep_applies_each_hyperparameter_where_it_belongs() -> None:
    spec = SweepSpec(grid={"optimizer": ["adamw", "sgd"], "momentum": [0.0, 0.9]}, fixed=SMALL)
    points = spec.expand()
    # AdamW takes no momentum: its two configs are the same run, kept once.
    assert [(p.config.optimizer, p.config.hparam_dict.get("momentum")) for p in points] == [
        ("adamw", None),
        ("sgd", 0.0),
        ("sgd", 0.9),
    ]
    assert points[0].label == "optimizer = adamw"
    with pytest.raises(ConfigError, match="`momentum` is not a hyperparameter of AdamW"):
        SweepSpec(fixed={**SMALL, "momentum": 0.9}).expand()


def test_every_bad_value_is_reported_with_its_config_numbers() -> None:
    lrs, wds = [0.1, -1.0, 0.01], [0.0, -0.5]
    spec = SweepSpec(grid={"lr": lrs, "weight_decay": wds}, fixed=SMALL, seeds=2)
    combos = [(lr, wd) for lr, wd in itertools.product(lrs, wds) for _ in range(2)]
    bad_lr = [i for i, (lr, _) in enumerate(combos, 1) if lr < 0]
    bad_wd = [i for i, (_, wd) in enumerate(combos, 1) if wd < 0]
    with pytest.raises(ConfigError) as caught:
        spec.expand()
    message = str(caught.value)
    assert message.endswith("Nothing was run.")
    lr_part = re.search(r"configs ([\d, -]+) of 12: `lr` = -1\.0", message)
    wd_part = re.search(r"configs ([\d, -]+) of 12: `weight_decay` = -0\.5", message)
    assert lr_part and wd_part, message
    assert _expand_numbers(lr_part.group(1)) == bad_lr
    assert _expand_numbers(wd_part.group(1)) == bad_wd


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        (  # a misspelt name does not hide the bad values
            SweepSpec(grid={"lrr": [0.1, 0.2], "weight_decay": 0.1, "lr": [-1, 0.1]},
                      fixed={"beta1": 1.5}),
            ["`lrr` is not a sweep setting", "`weight_decay` = 0.1 must be a list",
             "config 1 of 2 (weight_decay = 0.1, lr = -1): `lr` = -1", "`beta1` = 1.5 is outside"],
        ),
        (  # nor does an unknown optimizer
            SweepSpec(fixed={"optimizer": "sgdd", "lr": "a"}),
            ["`optimizer` = 'sgdd' is unknown", "`lr` = 'a' is not a number"],
        ),
        (  # a bad value and a bad combination in the same config
            SweepSpec(fixed={"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
                      grid={"dampening": [0.1, 0.0], "lr": [-1.0, 0.1]}),
            ["configs 1, 3 of 4: `lr` = -1.0", "configs 1, 2 of 4: `nesterov` = True needs"],
        ),
    ],
)  # fmt: skip
def test_one_problem_never_hides_another(spec: SweepSpec, wanted: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        spec.expand()
    for part in wanted:
        assert part in str(caught.value)


def test_unknown_top_level_keys_are_reported_with_the_rest() -> None:
    with pytest.raises(ConfigError) as caught:
        SweepSpec.from_dict({"foo": 1, "grid": {"lr": [-1.0, 0.1]}})
    message = str(caught.value)
    assert "unknown keys 'foo'" in message and "config 1 of 2 (lr = -1): `lr` = -1.0" in message
    assert message.count("Nothing was run.") == 1


def test_settings_that_would_make_configs_equal_are_refused() -> None:
    # beta1 would overwrite each betas pair, leaving both configs (0.7, 0.99)
    both = SweepSpec(grid={"betas": [(0.9, 0.99), (0.5, 0.99)]}, fixed={"beta1": 0.7, **SMALL})
    with pytest.raises(ConfigError, match=r"`betas` and `beta1` are both given"):
        both.expand()
    # an explicit config is one optimizer's: a setting it does not take is not dropped
    explicit = SweepSpec(
        configs=[{"optimizer": "adam", "momentum": 0.5}, {"optimizer": "sgd", "momentum": 0.5}],
        fixed=SMALL,
    )
    wanted = r"config 1 of 2 \(optimizer = adam, momentum = 0.5\): `momentum` is not a hyperparam"
    with pytest.raises(ConfigError, match=wanted):
        explicit.expand()


def test_the_size_says_how_many_configs_are_distinct() -> None:
    spec = SweepSpec(
        grid={"optimizer": ["adamw", "sgd"], "nesterov": [True, False]},
        fixed={"momentum": 0.9, **SMALL},
        seeds=3,
    )
    assert len(spec.expand()) == 9  # nesterov changes SGD's configs only
    assert spec.describe() == (
        "2 optimizer × 2 nesterov × 3 seeds = 12 combinations, 9 distinct configs"
    )


def _expand_numbers(text: str) -> list[int]:
    numbers: list[int] = []
    for part in text.split(", "):
        first, _, last = part.partition("-")
        numbers += range(int(first), int(last or first) + 1)
    return numbers


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (SweepSpec(fixed={"sd": 0.1}), r"`sd` is not a sweep setting; did you mean `noise`\?"),
        (SweepSpec(grid={"lr": []}), r"`lr` is an empty list"),
        (SweepSpec(grid={"lr": [0.1, 0.1]}), r"`lr` lists 0.1 more than once"),
        (SweepSpec(grid={"lr": 0.1}), r"`lr` = 0.1 must be a list"),
        (SweepSpec(grid={"lr": [0.1]}, fixed={"lr": 0.2}), r"`lr` is both in grid and in fixed"),
        (SweepSpec(fixed={"seed": 1}, seeds=3), r"either `seed`.*or `seeds`"),
        (SweepSpec(grid={"seed": [1, 2]}), r"`seed` cannot be swept; use seeds="),
        (SweepSpec(seeds=0), r"seeds = 0 must be a count of at least 1"),
        (SweepSpec(seeds=[1, -2]), r"seeds \[-2\] must be integers >= 0"),
        (SweepSpec(name="no spaces"), r"name = 'no spaces' must be"),
        (SweepSpec(fixed={"dataset": "friedman9"}), r"friedman9"),
        (SweepSpec(fixed={"noise": "0.1"}), r"`noise` = '0.1'.*not a number"),
        (SweepSpec(fixed={"hidden": "50x50"}), r"`hidden` = '50x50' must be a list"),
        (SweepSpec(fixed={"optimizer": "lion"}), r"`optimizer` = 'lion' is unknown"),
    ],
)
def test_spec_problems_are_clear(spec: SweepSpec, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        spec.expand()


ROUND_TRIP = [
    SweepSpec(grid={"lr": [0.1, 0.01, 0.001], "weight_decay": [0, 0.01, 0.1]}, seeds=5),
    SweepSpec(
        grid={"hidden": [(50, 50), (100,)], "betas": [(0.9, 0.999), (0.5, 0.9)]},
        fixed={"epochs": 10, "eps": 1e-8, "standardize": True, "dataset": "friedman1"},
        seeds=[0, 3, 7],
        name="shapes",
    ),
    SweepSpec(
        configs=[{"optimizer": "sgd", "momentum": 0.9, "nesterov": True}, {"optimizer": "adam"}],
        grid={"lr": [1e-3, 3e-4]},
        fixed={"seed": 5},
    ),
]


@pytest.mark.parametrize("spec", ROUND_TRIP, ids=["grid", "nested", "explicit"])
@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_specs_round_trip_through_files(spec: SweepSpec, suffix: str, tmp_path: Path) -> None:
    path = spec.save(tmp_path / f"spec{suffix}")
    loaded = SweepSpec.load(path)
    assert loaded == spec
    assert [p.config for p in loaded.expand()] == [p.config for p in spec.expand()]
    assert loaded.default_name() == spec.default_name()


def test_a_seed_count_stays_a_count_in_files() -> None:
    assert SweepSpec(seeds=5).to_dict() == {"seeds": 5}
    assert SweepSpec(seeds=[0, 2]).to_dict() == {"seeds": [0, 2]}


def test_yaml_reads_exponent_numbers_as_numbers() -> None:
    # YAML 1.1 (PyYAML's default) reads 1e-3 as text; a spec must not.
    spec = SweepSpec.from_yaml("grid:\n  lr: [1e-3, 3E-4, 0.1]\nfixed:\n  eps: 1e-8\n")
    assert spec.grid["lr"] == (0.001, 0.0003, 0.1)
    assert spec.fixed["eps"] == 1e-8


def test_hand_written_toml_with_settings_at_the_top_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"unknown keys 'lr'.*put settings under \[fixed\]"):
        SweepSpec.from_toml("lr = 0.1\n")


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("s.toml", "grid = [", "not valid TOML"),
        ("s.yaml", "grid: [", "not valid YAML"),
        ("s.json", "{", "not valid JSON"),
        ("s.txt", "", "must end in .toml, .yaml, .yml, .json"),
    ],
)
def test_bad_files_name_the_file(name: str, text: str, pattern: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as caught:
        SweepSpec.load(path)
    assert "\n" not in str(caught.value)  # one line, as the command line prints it


def test_a_yaml_mistake_says_where_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("grid:\n  lr: [0.1, 0.01\nfixed: {epochs: 2}\n")
    with pytest.raises(ConfigError) as caught:
        SweepSpec.load(path)
    message = str(caught.value)
    assert "\n" not in message and "^" not in message
    assert re.search(r"at line 3, column \d+ \(while parsing a flow sequence at line 2", message)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the sweep spec"):
        SweepSpec.load(tmp_path / "gone.toml")


def test_overrides_replace_settings_wherever_they_were() -> None:
    base = SweepSpec(
        grid={"lr": [0.1, 0.01], "weight_decay": [0, 0.1]},
        fixed={"epochs": 30},
        configs=[{"optimizer": "adam", "epochs": 5}],
        seeds=3,
        name="base",
    )
    spec = base.with_overrides({"lr": [0.5], "epochs": [1, 2], "batch_size": [8]}, seeds=2)
    assert spec.grid == {"weight_decay": (0, 0.1), "epochs": (1, 2)}
    assert spec.fixed == {"lr": 0.5, "batch_size": 8}
    assert spec.configs == ({"optimizer": "adam"},)
    assert spec.seeds == (0, 1) and spec.name == "base"
    assert base.with_overrides({}, name="other").name == "other"


def test_from_values_sweeps_lists_and_fixes_single_values() -> None:
    spec = SweepSpec.from_values(
        {"lr": [0.1, 0.01], "hidden": [50, 50], "betas": [(0.9, 0.99), (0.5, 0.9)], "n": 200}
    )
    assert spec.grid == {"lr": (0.1, 0.01), "betas": ((0.9, 0.99), (0.5, 0.9))}
    assert spec.fixed == {"hidden": (50, 50), "n": 200}


def test_default_names_follow_the_content() -> None:
    spec = SweepSpec(grid={"lr": [0.1, 0.01]}, seeds=2)
    assert re.fullmatch(r"lr-[0-9a-f]{6}", spec.default_name())
    assert SweepSpec(grid={"lr": [0.1, 0.01]}, seeds=2).default_name() == spec.default_name()
    assert SweepSpec(grid={"lr": [0.1, 0.02]}, seeds=2).default_name() != spec.default_name()
    assert SweepSpec(grid={"lr": [0.1]}, name="mine").resolved_name == "mine"


def test_every_setting_reaches_the_config() -> None:
    values = {
        "optimizer": "sgd",
        "lr": 0.5,
        "momentum": 0.9,
        "dampening": 0.1,
        "weight_decay": 0.01,
        "nesterov": False,
        "batch_size": 8,
        "epochs": 3,
        "seed": 4,
        "hidden": (7, 5),
        "activation": "tanh",
        "metric": "batch_rmse",
        "shuffle": True,
        "dataset": "peak",
        "n": 300,
        "noise": 0.5,
        "d": 5,
        "data_seed": 9,
        "train_fraction": 0.6,
        "standardize": True,
    }
    (point,) = SweepSpec(fixed=values).expand()
    config = point.config
    assert config.optimizer == "sgd"
    assert config.hparam_dict == {
        "lr": 0.5,
        "momentum": 0.9,
        "dampening": 0.1,
        "weight_decay": 0.01,
        "nesterov": False,
    }
    assert (config.batch_size, config.epochs, config.seed, config.hidden) == (8, 3, 4, (7, 5))
    assert (config.activation, config.metric, config.shuffle) == ("tanh", "batch_rmse", True)
    data = config.data
    assert (data.name, data.n, data.sd, data.seed, data.d) == ("peak", 300, 0.5, 9, 5)
    assert (data.train_fraction, data.standardize) == (0.6, True)
    others = {"betas", "beta1", "beta2", "eps"} | set(OTHER_OPTIMIZERS_SETTINGS)
    others |= {name for name, setting in SETTINGS.items() if setting.target == "schedule"}
    assert set(values) | others == set(SETTINGS)  # (schedules: the test below)


# A value other than the default for every schedule setting.
SCHEDULE_VALUES = {
    "warmup": 5,
    "warmup_start": 0.2,
    "step_size": 2,
    "gamma": 0.5,
    "milestones": (1, 3),
    "eta_min": 1e-4,
    "pct_start": 0.4,
    "div_factor": 10.0,
    "final_div_factor": 100.0,
}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_every_schedule_setting_reaches_the_config(schedule: str) -> None:
    taken = SCHEDULES[schedule][0]
    assert set(SCHEDULE_VALUES) == {
        name for name, setting in SETTINGS.items() if setting.target == "schedule"
    } - {"schedule"}
    values = {"schedule": schedule, "epochs": 4, "n": 100, **{k: SCHEDULE_VALUES[k] for k in taken}}
    (point,) = SweepSpec(fixed=values).expand()
    assert point.config.schedule == ScheduleSpec(schedule, **{k: SCHEDULE_VALUES[k] for k in taken})
    assert point.config.schedule.settings == {k: SCHEDULE_VALUES[k] for k in taken}


def test_a_schedule_setting_applies_to_the_schedules_that_take_it() -> None:
    """``gamma`` in a ``step,cosine`` sweep sets the step schedule's gamma and leaves the
    cosine configs alone (one config each, labelled without it); alone, with a schedule
    that does not take it, it is refused before anything runs."""
    spec = SweepSpec(grid={"schedule": ["step", "cosine"], "gamma": [0.5, 0.2]}, fixed={"n": 100})
    points = spec.expand()
    assert sorted((p.config.schedule.name, p.config.schedule.gamma) for p in points) == [
        ("cosine", 0.1), ("step", 0.2), ("step", 0.5),
    ]  # fmt: skip
    cosine = next(p for p in points if p.config.schedule.name == "cosine")
    assert "gamma" not in cosine.settings
    with pytest.raises(ConfigError, match="`gamma` is not a setting of the cosine lr schedule"):
        SweepSpec(fixed={"schedule": "cosine", "gamma": 0.5}).expand()
    with pytest.raises(ConfigError, match="`warmup` = 10000 leaves no step for the cosine"):
        SweepSpec(fixed={"schedule": "cosine", "warmup": 10000, "epochs": 2}).expand()
    with pytest.raises(ConfigError, match="`milestones`"):
        SweepSpec(fixed={"schedule": "multistep", "milestones": [0, 2]}).expand()


# The settings SGD does not take, for the optimizers that take them.
OTHER_OPTIMIZERS_SETTINGS = {
    "alpha": ("rmsprop", 0.9),
    "centered": ("rmsprop", True),
    "lr_decay": ("adagrad", 0.01),
    "initial_accumulator_value": ("adagrad", 0.1),
    "momentum_decay": ("nadam", 0.01),
    "decoupled_weight_decay": ("radam", True),
}


@pytest.mark.parametrize("name", sorted(OTHER_OPTIMIZERS_SETTINGS))
def test_rmsprop_and_adagrad_settings_reach_their_configs_only(name: str) -> None:
    """A hyperparameter setting of one optimizer reaches its configs and is dropped from the
    others' in a sweep over several optimizers (as ``momentum`` is for AdamW)."""
    optimizer, value = OTHER_OPTIMIZERS_SETTINGS[name]
    spec = SweepSpec(grid={"optimizer": ["adamw", optimizer], name: [value]}, fixed=SMALL)
    configs = {point.config.optimizer: point.config for point in spec.expand()}
    assert configs[optimizer].hparam_dict[name] == value
    assert name not in configs["adamw"].hparam_dict
    assert get_optimizer(optimizer).defaults[name] != value  # the setting changed something


def test_rmsprop_and_adagrad_settings_are_checked_like_any_other() -> None:
    spec = SweepSpec(
        configs=[{"optimizer": "rmsprop", "alpha": 1.5}, {"optimizer": "adagrad", "alpha": 0.9}],
        fixed=SMALL,
    )
    with pytest.raises(ConfigError) as caught:
        spec.expand()
    message = str(caught.value)
    assert (
        "config 1 of 2 (optimizer = rmsprop, alpha = 1.5): `alpha` = 1.5 is outside [0, 1); "
        "RMSprop needs 0 <= alpha < 1"
    ) in message
    assert (
        "config 2 of 2 (optimizer = adagrad, alpha = 0.9): `alpha` is not a hyperparameter of "
        "Adagrad"
    ) in message


def test_labels_tell_close_values_apart() -> None:
    points = SweepSpec(grid={"lr": [0.001, 0.0010001, 1e-7]}, fixed=SMALL).expand()
    assert [p.label for p in points] == ["lr = 0.001", "lr = 0.0010001", "lr = 1e-07"]
    close = SweepSpec(grid={"lr": [0.1, 0.1 + 1e-12]}, fixed=SMALL).expand()
    assert len({p.label for p in close}) == 2
