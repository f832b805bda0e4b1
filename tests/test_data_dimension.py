"""mlbench's dimension ``d`` is a setting: chosen and swept from Python, the command line and
spec files, refused (with the sets that take one) where a set has a fixed shape, and left out
of config keys when it is the set's own, so results stored before ``d`` existed keep their key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import optiscope
from cli_run import run
from optiscope.data import GENERATORS, dimension_problem, make_dataset
from optiscope.engine import train_reference, train_vectorized
from optiscope.errors import ConfigError
from optiscope.records import DataSpec, RunConfig
from optiscope.storage import SqliteStore
from optiscope.sweeps import SweepSpec, plan

SMALL = ["--epochs", "1", "--n", "120", "--hidden", "4"]

# mlbench's signatures (R package mlbench 2.1): mlbench.circle(n, d = 2), mlbench.xor(n, d = 2),
# mlbench.twonorm(n, d = 20), mlbench.threenorm(n, d = 20), mlbench.ringnorm(n, d = 20),
# mlbench.hypercube(d = 3, ...), mlbench.peak(n, d = 20); the other sets take no d.
MLBENCH_D = {
    "circle": 2,
    "xor": 2,
    "twonorm": 20,
    "threenorm": 20,
    "ringnorm": 20,
    "hypercube": 3,
    "peak": 20,
}

# Keys of the default config on each set, computed by optiscope at commit ac49319 (before
# ``d`` existed) with plan(SweepSpec(fixed={"dataset": NAME, "epochs": 1})).
KEYS_BEFORE_D = {
    "twonorm": "9e44b07a282f052d28bd",
    "friedman3": "594fea934d3206c89d54",
    "peak": "fb6a92647ebb9b87bfb2",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTISCOPE_STORE", raising=False)


def _config(dataset: str, **values: object) -> RunConfig:
    planned = plan(SweepSpec(fixed={"dataset": dataset, "epochs": 1, **values}))
    return planned.points[0].config


def test_the_sets_that_take_d_and_their_defaults_are_mlbenchs() -> None:
    takers = {name: info.default_d for name, info in GENERATORS.items() if info.takes_d}
    assert takers == MLBENCH_D
    assert all(GENERATORS[name].n_features == d for name, d in MLBENCH_D.items())


@pytest.mark.parametrize("name", sorted(MLBENCH_D))
def test_a_set_has_d_columns_and_its_classes_at_d(name: str) -> None:
    data = make_dataset(DataSpec(name=name, n=300, d=4))
    assert data.n_features == 4 and data.X_valid.shape[1] == 4
    # mlbench: xor has 2^(d-1) classes, hypercube one per corner (2^d), the others 2 (peak:
    # regression)
    expected = {"xor": 8, "hypercube": 16, "peak": 0}.get(name, 2)
    assert data.n_classes == expected
    if expected:
        labels = set(data.y_train.tolist()) | set(data.y_valid.tolist())
        assert labels == set(range(expected))


def test_keys_of_configs_without_d_are_the_keys_from_before_d() -> None:
    for name, key in KEYS_BEFORE_D.items():
        assert _config(name).key() == key, name
    own = _config("twonorm", d=20)  # twonorm's own d: the same data, so the same key
    assert own.key() == KEYS_BEFORE_D["twonorm"] and own.data.d is None
    assert "d" not in own.data.to_dict()
    other = _config("twonorm", d=10)
    assert other.key() != own.key() and other.data.to_dict()["d"] == 10
    assert RunConfig.from_dict(other.to_dict()) == other
    assert other.data.label == "twonorm (n=1000, sd=0, d=10)"


def test_python_sweeps_d_and_trains_data_of_that_width(tmp_path: Path) -> None:
    result = optiscope.sweep(
        dataset="twonorm", d=[3, 7], epochs=1, n=120, hidden=[(4,)], store=tmp_path / "s.sqlite"
    )
    assert [run.status for run in result.runs] == ["done", "done"]
    assert [run.config.data.d for run in result.runs] == [3, 7]
    widths = [make_dataset(run.config.data).n_features for run in result.runs]
    assert widths == [3, 7]
    assert sorted(set(result.frame["d"])) == [3, 7]


def test_the_cli_sweeps_d(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["sweep", "--dataset", "twonorm", "--d", "3,20", *SMALL, "-q"], capsys)
    assert code == 0, err
    with SqliteStore(create=False) as store:
        (name,) = [s.name for s in store.sweeps()]
        runs = store.runs(name)
    assert sorted(str(r.config.data.d) for r in runs) == ["3", "None"]  # 20 is twonorm's own
    assert {r.status for r in runs} == {"done"} and {r.engine for r in runs} == {"vectorized"}
    assert "d = 3" in out and "d = 20" in out


def test_a_spec_file_sweeps_d(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(
        '[fixed]\ndataset = "xor"\nepochs = 1\nn = 150\n[grid]\nd = [2, 3]\nlr = [0.1, 0.01]\n'
    )
    configs = [p.config for p in plan(SweepSpec.load(spec_file)).points]
    assert [c.data.d for c in configs] == [None, None, 3, 3]  # 2 is xor's own
    assert [make_dataset(c.data).n_classes for c in configs[::2]] == [2, 4]


@pytest.mark.parametrize(("name", "d"), [("twonorm", 5), ("xor", 3)])
def test_vectorized_equals_the_reference_at_another_d(name: str, d: int) -> None:
    config = _config(name, d=d, n=160, hidden=(8,), epochs=2, batch_size=16)
    data = make_dataset(config.data)
    assert data.n_features == d
    (ours,) = train_vectorized([config], data)
    reference = train_reference(config, data)
    assert ours.status == reference.status == "done"
    assert ours.curve.train_loss == reference.curve.train_loss
    assert ours.curve.valid_loss == reference.curve.valid_loss


def test_a_set_of_fixed_shape_refuses_d_and_names_the_sets_that_take_it() -> None:
    takers = ", ".join(name for name, info in GENERATORS.items() if info.takes_d)
    expected = (
        f"`d` = 3: spirals has a fixed shape and takes no dimension; the sets that take `d` "
        f"are: {takers}"
    )
    assert dimension_problem(DataSpec(name="spirals", d=3)) == expected
    with pytest.raises(ConfigError, match="spirals has a fixed shape"):
        make_dataset(DataSpec(name="spirals", d=3))
    with pytest.raises(ConfigError, match="friedman3 has a fixed shape"):
        plan(SweepSpec(fixed={"dataset": "friedman3", "d": 3}))


@pytest.mark.parametrize(
    ("name", "d", "message"),
    [
        ("xor", 1, "`d` = 1 is outside xor's dimensions; choose one in 2 .. 12"),
        ("hypercube", 11, "`d` = 11 is outside hypercube's dimensions; choose one in 1 .. 10"),
        ("twonorm", 0, "`d` = 0 is outside [1, inf)"),
        ("twonorm", 2.5, "`d` = 2.5 must be an integer"),
    ],
)
def test_a_d_out_of_range_is_refused(name: str, d: object, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        plan(SweepSpec(fixed={"dataset": name, "d": d}))
    assert message in str(refused.value)


def test_the_cli_refuses_d_on_a_fixed_shape_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["sweep", "--dataset", "cassini", "--d", "3", *SMALL, "-q"], capsys)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "cassini has a fixed shape and takes no dimension" in err


def test_compare_takes_d_from_python_and_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    result = optiscope.compare_configs(
        lr=[0.1, 0.01], data={"dataset": "twonorm", "d": 4, "n": 100}, epochs=1, hidden=(4,)
    )
    assert {r.config.data.d for r in result.records} == {4}
    assert make_dataset(result.records[0].config.data).n_features == 4
    args = ["compare", "--lr", "0.1,0.01", "--dataset", "twonorm", "--d", "4", *SMALL, "--json"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert [c["status"] for c in json.loads(out)["configs"]] == ["done", "done"]
