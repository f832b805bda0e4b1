"""Classification sets are sweepable from Python, the command line and spec files, and a metric
that does not fit the data set's task is refused before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import optiscope
from cli_run import run
from optiscope.errors import ConfigError
from optiscope.storage import SqliteStore
from optiscope.sweeps import SweepSpec, plan

SMALL = ["--epochs", "2", "--n", "200", "--hidden", "8"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTISCOPE_STORE", raising=False)


def test_the_cli_sweeps_a_classification_set_by_its_log_loss(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        ["sweep", "--dataset", "spirals", "--lr", "0.1,0.01", *SMALL, "-q"], capsys
    )
    assert code == 0, err
    with SqliteStore(create=False) as store:
        (name,) = [s.name for s in store.sweeps()]
        runs = store.runs(name)
    assert {r.config.metric for r in runs} == {"log_loss"}  # the classification default
    assert {r.config.data.name for r in runs} == {"spirals"}
    assert {r.engine for r in runs} == {"vectorized"} and {r.status for r in runs} == {"done"}
    assert "rank" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "spirals", "--metric", "rmse"], "'rmse' is a regression metric and "
         "spirals is a classification data set; use one of: log_loss, accuracy"),
        (["--dataset", "friedman3", "--metric", "accuracy"], "'accuracy' is a classification "
         "metric and friedman3 is a regression data set; use one of: rmse, batch_rmse"),
    ],
)  # fmt: skip
def test_the_cli_refuses_a_metric_of_the_other_task_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["sweep", *args, *SMALL, "-q"], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "Nothing was run" in err


def test_a_spec_file_sweeps_classification_sets_and_metrics(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(
        '[fixed]\nmetric = "accuracy"\nepochs = 1\nn = 150\nhidden = [8]\n'
        '[grid]\ndataset = ["cassini", "smiley"]\nlr = [0.1, 0.01]\n'
    )
    planned = plan(SweepSpec.load(spec_file))
    configs = [p.config for p in planned.points]
    assert len(configs) == 4
    assert {c.data.name for c in configs} == {"cassini", "smiley"}
    assert {c.metric for c in configs} == {"accuracy"}


def test_python_sweeps_a_classification_set_and_refuses_a_mismatched_metric(
    tmp_path: Path,
) -> None:
    result = optiscope.sweep(
        dataset="xor", metric="accuracy", epochs=1, n=120, hidden=[(8,)], lr=[0.1, 0.3],
        store=tmp_path / "s.sqlite",
    )  # fmt: skip
    assert {r.status for r in result.runs} == {"done"}
    assert all(0.0 <= r.record.curve.valid_loss[-1] <= 1.0 for r in result.runs if r.record)
    with pytest.raises(ConfigError, match="'log_loss' is a classification metric"):
        optiscope.sweep(dataset="peak", metric="log_loss", epochs=1, store=tmp_path / "t.sqlite")


def test_runs_boundaries_draws_a_sweeps_decision_boundaries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        ["sweep", "--dataset", "xor", "--lr", "0.1,0.3", *SMALL, "--name", "x"], capsys
    )
    assert code == 0, err
    code, _, err = run(["runs", "boundaries", "x", "--resolution", "10"], capsys)
    assert code == 0, err
    assert "wrote boundaries-x.png" in err and Path("boundaries-x.png").stat().st_size > 0
    code, _, err = run(["sweep", "--lr", "0.1", *SMALL, "--name", "f", "-q"], capsys)
    assert code == 0, err
    code, _, err = run(["runs", "boundaries", "f"], capsys)
    assert code == 2 and "need a 2-D classification set; friedman3" in err
    assert len(err.strip().splitlines()) == 1 and not Path("boundaries-f.png").exists()


def test_compare_configs_measures_a_classification_set_by_its_own_metric() -> None:
    result = optiscope.compare_configs(
        lr=[0.3, 0.001], epochs=3, data={"dataset": "circle", "n": 200}, hidden=(8,)
    )
    assert {r.config.metric for r in result.records} == {"log_loss"}
    accuracy = optiscope.compare_configs(
        lr=[0.3, 0.001], epochs=3, data={"dataset": "circle", "n": 200}, hidden=(8,),
        metric="accuracy",
    )  # fmt: skip
    summary = accuracy.summary()
    for record, (_, row) in zip(accuracy.records, summary.iterrows(), strict=True):
        losses = record.curve.valid_loss
        assert row.best_valid_loss == max(losses)  # best accuracy is the highest
        assert row.best_epoch == losses.index(max(losses)) + 1  # its first epoch


def test_the_classification_benchmark_runs() -> None:
    """benchmarks/bench_classification.py in its smoke settings prints a row per data set."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_classification.py"), "--repeats", "1",
         "--epochs", "1", "--n", "100"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split()[0] for line in done.stdout.splitlines()[2:]]
    assert rows == ["friedman3", "spirals", "cassini"]
