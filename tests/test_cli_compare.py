"""`optiscope compare`: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli_run import run

FAST = ["--n", "200", "--epochs", "2", "-q"]


def test_compare_writes_figure_and_prints_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["compare", "--lr", "0.1,0.01", *FAST], capsys)
    assert code == 0, err
    assert (tmp_path / "compare-lr.png").read_bytes().startswith(b"\x89PNG")
    header = out.splitlines()[0].split()
    assert header[:3] == ["config", "lr", "status"]
    assert "lr = 0.01" in out and "lr = 0.1" in out
    assert "wrote compare-lr.png" in err


def test_json_puts_only_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["compare", "--batch-size", "64,32", *FAST, "--json", "--out", str(tmp_path / "f.svg")]
    code, out, _ = run([*args, "--csv", str(tmp_path / "t.csv")], capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["parameter"] == "batch_size"
    assert [c["batch_size"] for c in payload["configs"]] == [32, 64]
    frame = pd.read_csv(tmp_path / "t.csv")
    assert len(frame) == 4 and set(frame["config"]) == {"batch_size = 32", "batch_size = 64"}
    assert (tmp_path / "f.svg").exists()


def test_parquet_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.parquet"
    args = ["compare", "--beta1", "0.5,0.9", *FAST, "--out", str(tmp_path / "f.png")]
    code, _, _ = run([*args, "--parquet", str(path)], capsys)
    assert code == 0
    frame = pd.read_parquet(path)
    assert list(frame["epoch"]) == [1, 2, 1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare"], "(got one value for each)"),
        (["compare", "--lr", "0.1,0.01", "--beta1", "0.5,0.9"], "got several for --lr, --beta1"),
        (
            ["compare", "--lr", "0.1,0.01", "--beta1", "0.5,0.9"],
            "several comparisons as one call, give `optiscope sweep --config` a spec",
        ),
        (["compare", "--lr", "0.1,abc"], "--lr takes numbers, got 'abc'"),
        (["compare", "--batch-size", "16,8.5"], "--batch-size takes whole numbers, got '8.5'"),
        (["compare", "--lr", "0.1,,0.01"], "has an empty value"),
        (["compare", "--lr", "-1,0.1"], "`lr` = -1.0 is outside"),
        (["compare", "--beta2", "0.99,1"], "AdamW needs 0 <= beta2 < 1"),
        (["compare", "--lr", "0.1,1", "--dataset", "mnist"], "`dataset` = 'mnist' is unknown"),
        (
            ["compare", "--lr", "0.1,1", "--out", "f.jpg"],
            "'f.jpg' must end in .png or .svg or .pdf",
        ),
        (["compare", "--lr", "0.1,1", "--csv", "t.txt"], "'t.txt' must end in .csv"),
        (["compare", "--lr", "0.1,1", "--epochs", "0"], "`epochs` = 0 is outside [1, inf)"),
        (["compare", "--lr", "0.1,1", "--metric", "mae"], "`metric` = 'mae' is unknown"),
        (["compare", "--lr", "0.1,1", "--epochs", "3,4"], "--epochs takes one value in compare"),
        (["compare", "--lr", "0.1", "0.2"], "separate several values with commas: --lr 0.1,0.2"),
        (["compare", "--lr", "0.1,1", "--bogus"], "No such option '--bogus'"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optiscope: error: ")
    assert message in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("flag", ["--out", "--csv", "--parquet"])
def test_an_output_that_cannot_be_written_fails_before_training(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that is a file (a typo, or a read-only place): exit 2 at once, one line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").write_text("not a folder")
    suffix = {"--out": ".png", "--csv": ".csv", "--parquet": ".parquet"}[flag]
    trained = []
    monkeypatch.setattr("optiscope.sweeps._sweep.run_configs", lambda *a, **k: trained.append(1))
    code, out, err = run(["compare", "--lr", "0.1,1", flag, f"results/t{suffix}"], capsys)
    assert code == 2 and out == "" and not trained
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot write 'results/t" in lines[0] and flag in lines[0]
    assert "'results' is a file, not a folder" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_checking_outputs_creates_nothing_and_takes_existing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run refused for a bad value leaves no folder behind; an existing writable file in a
    folder that exists is a fine target (it is overwritten, as asked)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["compare", "--lr", "-1,0.1", "--out", "new/sub/x.png"], capsys)
    assert code == 2 and "Nothing was run" in err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "old.csv").write_text("stale")
    args = ["compare", "--lr", "0.1,0.01", *FAST, "--out", "new/sub/x.png", "--csv", "old.csv"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    assert (tmp_path / "new" / "sub" / "x.png").exists()
    assert (tmp_path / "old.csv").read_text().startswith("config,")


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    """`optiscope compare ... | head`: stdout closes before the table is printed; no
    traceback and no error line (click exits 1 quietly on a broken pipe)."""
    code = (
        "import sys; from optiscope.cli import main\n"
        "main(['compare', '--lr', '0.1,0.01', '--n', '200', '--epochs', '2', '-q', "
        "'--out', 'x.png'])\n"
    )
    done = subprocess.run(
        f"{sys.executable} -c \"{code}\" | true",
        shell=True, cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert "Traceback" not in done.stderr and "error" not in done.stderr


def test_a_write_that_fails_after_training_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "t.csv"))

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    args = ["compare", "--lr", "0.1,0.01", *FAST, "--out", str(tmp_path / "f.png")]
    code, _, err = run([*args, "--csv", str(tmp_path / "t.csv")], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"optiscope: error: No space left on device ({tmp_path / 't.csv'})"
    )
    assert "Traceback" not in err


def test_help_is_fast_because_torch_is_not_imported() -> None:
    code = (
        "import sys; from optiscope.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported by --help'\n"
        "assert 'matplotlib' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "compare" in done.stdout


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_the_installed_command_runs_as_a_process(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "optiscope"
    done = subprocess.run(
        [str(exe), "compare", "--lr", "0.1,0.01", *FAST, "--json", "--out", "x.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameter"] == "lr"
    bad = subprocess.run([str(exe), "compare", "--lr", "x,1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_compare_yardstick_flag_draws_the_mean_predictor_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from optiscope.api import CompareResult

    drawn: list[bool] = []
    plot = CompareResult.plot

    def spy(self: CompareResult, *args: object, yardstick: bool = False, **kw: object) -> object:
        drawn.append(yardstick)
        return plot(self, *args, yardstick=yardstick, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(CompareResult, "plot", spy)
    args = ["compare", "--lr", "0.1,0.01", *FAST, "--out", str(tmp_path / "f.png")]
    code, _, err = run([*args, "--yardstick"], capsys)
    assert code == 0, err
    assert drawn == [True]


def test_compare_yardstick_with_the_course_metric_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", "--lr", "0.1,0.01", *FAST, "--metric", "batch_rmse", "--yardstick"]
    code, out, err = run([*args, "--out", str(tmp_path / "f.png")], capsys)
    assert code == 2
    assert "--yardstick" in err and "batch_rmse" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.png").exists() and out == ""
