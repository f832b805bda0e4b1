"""``optiscope sweep``, ``resume``, ``runs ...`` and ``doctor`` through the CLI's entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cli_run import run
from optiscope.api import SweepResult
from optiscope.storage import SqliteStore
from optiscope.sweeps import SweepSpec

SMALL = ["--epochs", "2", "--n", "200", "--hidden", "8"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTISCOPE_STORE", raising=False)


def test_a_sweep_varies_rmsprop_and_adagrad_settings_and_trains_them_vectorized(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["sweep", "--optimizer", "rmsprop,adagrad", "--lr", "0.01", *SMALL, "--name", "ra"]
    args += ["--alpha", "0.9,0.99", "--centered", "true,false", "--lr-decay", "0,0.01"]
    code, _, err = run([*args, "-q"], capsys)
    assert code == 0, err
    assert "2 optimizer × 2 alpha × 2 centered × 2 lr_decay" in err
    with SqliteStore(create=False) as store:
        runs = store.runs("ra")
    rmsprop = {
        (r.config.hparam_dict["alpha"], r.config.hparam_dict["centered"])
        for r in runs
        if r.config.optimizer == "rmsprop"
    }
    adagrad = {r.config.hparam_dict["lr_decay"] for r in runs if r.config.optimizer == "adagrad"}
    assert len(runs) == 6  # alpha and centered apply to RMSprop only, lr_decay to Adagrad
    assert rmsprop == {(0.9, True), (0.9, False), (0.99, True), (0.99, False)}
    assert adagrad == {0.0, 0.01}
    assert {r.engine for r in runs} == {"vectorized"} and {r.status for r in runs} == {"done"}


def test_sweep_shows_a_ranked_table_and_a_figure_then_skips_on_rerun(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["sweep", "--lr", "0.1,0.01", "--weight-decay", "0,0.1", "--seeds", "2", *SMALL]
    code, out, err = run([*args, "--name", "g"], capsys)
    assert code == 0, err
    assert "sweep g: 2 lr × 2 weight_decay × 2 seeds = 8 configs; 0 already in" in err
    assert Path("sweep-g.png").read_bytes().startswith(b"\x89PNG")
    assert Path(".optiscope/results.sqlite").is_file()  # the documented default store
    table = out.splitlines()
    assert table[0].split()[:4] == ["rank", "config", "status", "seeds"]
    result = SweepResult.load("g")
    expected = list(result.summary()["config"])
    assert len(table) == 1 + len(expected)
    for rank, (line, label) in enumerate(zip(table[1:], expected, strict=True), start=1):
        assert line.split()[0] == str(rank) and f" {label} " in line
    assert "trained 8, skipped 0" in err
    code, _, err = run([*args, "--name", "g"], capsys)
    assert code == 0 and "8 already in" in err and "trained 0, skipped 8" in err


def test_the_figure_from_the_store_equals_the_sweeps_figure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        ["sweep", "--lr", "0.1,0.01", "--seeds", "2", *SMALL, "--name", "f", "--out", "a.png"],
        capsys,
    )
    assert code == 0, err
    code, _, err = run(["runs", "plot", "f", "--out", "b.png"], capsys)
    assert code == 0, err
    assert Path("a.png").read_bytes() == Path("b.png").read_bytes()


def test_json_output_is_the_only_thing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["sweep", "--lr", "0.1,0.01", *SMALL, "--json", "-q", "--name", "j"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "j" and data["counts"]["done"] == 2 and data["run"]["trained"] == 2
    assert [row["rank"] for row in data["configs"]] == [1, 2]
    code, out, _ = run(["runs", "list", "--json"], capsys)
    listing = json.loads(out)
    assert [s["name"] for s in listing["sweeps"]] == ["j"]
    assert listing["sweeps"][0]["done"] == 2
    code, out, _ = run(["runs", "show", "j", "--json"], capsys)
    shown = json.loads(out)
    assert [r["starts"] for r in shown["runs"]] == [1, 1]
    assert {r["status"] for r in shown["runs"]} == {"done"}


def test_a_config_file_with_overriding_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed={"epochs": 9, "n": 200, "hidden": (8,)})
    spec.save(tmp_path / "spec.yaml")
    code, _, err = run(
        ["sweep", "--config", "spec.yaml", "--epochs", "1", "--name", "c", "--save-spec",
         "merged.toml", "-q"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    merged = SweepSpec.load("merged.toml")
    assert merged.fixed["epochs"] == 1 and merged.grid == spec.grid and merged.name == "c"
    assert {r.config.epochs for r in SweepResult.load("c").records} == {1}


def test_bad_values_exit_2_with_one_line_and_nothing_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["sweep", "--lr", "0.1,-1", "--seeds", "2", *SMALL], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "configs 3, 4 of 4: `lr` = -1.0 is outside (0, inf)" in err
    assert not Path(".optiscope").exists()
    code, _, err = run(["sweep", "--lr", "fast"], capsys)
    assert code == 2 and "--lr takes numbers, got 'fast'" in err
    code, _, err = run(["sweep", "--hidden", "50,50"], capsys)
    assert code == 2 and "`hidden` lists (50,) more than once" in err
    code, _, err = run(["sweep", "--seeds", "a"], capsys)
    assert code == 2 and "--seeds takes a count" in err


def test_what_the_end_shows_is_checked_before_anything_trains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sweep = ["sweep", "--lr", "0.1,0.01", *SMALL, "-q"]
    for extra, part in (
        (["--facet", "foo"], "facet = 'foo' is not a swept setting"),
        (["--baseline", "lr=0.5"], "baseline lr = 0.5: no config matches"),
        (["--engine", "bogus"], "unknown engine 'bogus'"),
    ):
        code, out, err = run([*sweep, *extra], capsys)
        assert code == 2 and out == "" and part in err, err
        assert err.count("\n") == 1
        assert not Path(".optiscope").exists(), "nothing may run before the check"
    assert run(sweep, capsys)[0] == 0
    code, _, err = run([*sweep, "--engine", "bogus"], capsys)  # even with nothing to train
    assert code == 2 and "unknown engine 'bogus'" in err


def test_large_sweeps_ask_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import optiscope.cli._options as options

    monkeypatch.setattr(options, "CONFIRM_CONFIGS", 3)
    args = ["sweep", "--lr", "0.1,0.01", "--seeds", "2", *SMALL, "-q"]
    code, _, err = run(args, capsys)  # stdin is not a terminal under pytest
    assert code == 2 and "would train 4 configs (more than 3); add --yes" in err
    code, _, err = run([*args, "--yes"], capsys)
    assert code == 0, err


def test_dry_run_lists_configs_and_trains_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["sweep", "--lr", "0.1,0.01", "--seeds", "2", "--dry-run"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].split() == ["1", "lr", "=", "0.1,", "seed", "0", "[new]"]
    assert len(out.splitlines()) == 4
    assert not Path(".optiscope").exists()  # a dry run creates no store (issue 10, point 9)


def test_resume_trains_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    spec = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed={"epochs": 2, "n": 200}, seeds=2, name="r")
    from optiscope.storage import SweepEntry

    with SqliteStore() as store:
        store.save_sweep(
            "r", spec.to_dict(), [SweepEntry(p.config, p.labels) for p in spec.expand()]
        )
    code, _, err = run(["resume", "r", "-q"], capsys)
    assert code == 0, err
    assert "trained 4, skipped 0" in err
    code, _, err = run(["resume", "r", "-q"], capsys)
    assert "trained 0, skipped 4" in err
    code, _, err = run(["resume", "nope"], capsys)
    assert code == 2 and "no sweep named 'nope'" in err and "it holds: r" in err


def test_export_to_csv_and_parquet(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sweep", "--lr", "0.1,0.01", *SMALL, "--name", "e", "-q"], capsys)[0] == 0
    code, _, err = run(["runs", "export", "e", "--csv", "e.csv", "--parquet", "e.parquet"], capsys)
    assert code == 0, err
    expected = SweepResult.load("e").frame
    parquet = pd.read_parquet("e.parquet")
    pd.testing.assert_frame_equal(parquet, expected)
    csv = pd.read_csv("e.csv")
    assert list(csv.columns) == list(expected.columns)
    assert csv["valid_loss"].tolist() == expected["valid_loss"].tolist()
    code, _, err = run(["runs", "export", "e"], capsys)
    assert code == 2 and "give --csv PATH and/or --parquet PATH" in err
    code, _, err = run(["runs", "export", "e", "--parquet", "e.csv"], capsys)
    assert code == 2 and "must end in .parquet" in err


def test_show_and_rm(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sweep", "--lr", "0.1,0.01", *SMALL, "--name", "s", "-q"], capsys)[0] == 0
    code, out, _ = run(["runs", "show", "s", "--baseline", "lr=0.1"], capsys)
    assert code == 0 and "sweep s in .optiscope/results.sqlite" in out and "diff_mean" in out
    code, _, err = run(["runs", "rm", "s"], capsys)
    assert code == 2 and "add --yes" in err
    code, _, err = run(["runs", "rm", "s", "--yes"], capsys)
    assert code == 0 and "removed sweep s (2 runs" in err
    code, _, err = run(["runs", "list"], capsys)
    assert code == 0 and "no sweeps in" in err


def test_store_flag_and_environment_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["sweep", "--lr", "0.1", *SMALL, "-q", "--name", "x"]
    assert run([*args, "--store", "mine.sqlite"], capsys)[0] == 0
    monkeypatch.setenv("OPTISCOPE_STORE", str(tmp_path / "env.sqlite"))
    assert run(args, capsys)[0] == 0
    assert Path("mine.sqlite").is_file() and (tmp_path / "env.sqlite").is_file()
    assert not Path(".optiscope").exists()
    code, out, _ = run(["runs", "list", "--json", "--store", "mine.sqlite"], capsys)
    assert code == 0 and json.loads(out)["store"] == "mine.sqlite"


def test_reading_a_missing_store_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["runs", "list"], capsys)
    assert code == 2  # a store that is not there is a user mistake, like an unknown name
    assert "there is no results store at .optiscope/results.sqlite; run a sweep first" in err
    code, _, err = run(["runs", "show", "x", "--store", "no/such.sqlite"], capsys)
    assert code == 2 and "there is no results store at no/such.sqlite" in err
    code, out, _ = run(["doctor"], capsys)
    assert code == 0 and "info: there is no results store at" in out


def test_doctor_on_a_sound_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sweep", "--lr", "0.1", *SMALL, "-q"], capsys)[0] == 0
    code, out, _ = run(["doctor", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["healthy"]
    assert report["findings"][0]["message"].endswith("sound (quick_check ok); 1 sweeps, 1 runs")


@pytest.mark.parametrize(
    ("owner", "force"), [("live", False), ("another-host.example:1234:99:cafe", True)]
)
def test_configs_held_by_another_runner_are_left_to_it(
    owner: str, force: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from optiscope.storage import SweepEntry, new_owner, release_owner

    spec = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed={"epochs": 2, "n": 200, "hidden": (8,)})
    points = spec.expand()
    holder = new_owner() if owner == "live" else owner
    with SqliteStore() as store:  # another runner registered the sweep and took every config
        store.save_sweep(spec.resolved_name, spec.to_dict(), [SweepEntry(p.config) for p in points])
        store.claim([p.config.key() for p in points], holder)
    try:
        code, out, err = run(["sweep", "--lr", "0.1,0.01", *SMALL], capsys)
    finally:
        release_owner(holder)
    assert code == 0 and out == "", err
    assert "trained 0" in err and "2 configs of" in err and "held by another runner" in err
    assert not list(Path().glob("*.png")), "no empty figure over the other runner's"
    assert ("--force" in err) is force


def test_one_progress_bar_on_stderr_names_the_group_and_quiet_silences_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sweep = ["sweep", "--batch-size", "16,32", "--lr", "0.1,0.01", *SMALL, "--name", "bar"]
    code, out, err = run([*sweep, "--workers", "1"], capsys)
    assert code == 0, err
    lines = err.replace("\n", "\r").split("\r")
    frames = [f for f in lines if f.startswith("bar:") and "|" in f]
    assert frames, err
    assert all(" 0/4 " in f or "/4 [" in f for f in frames)  # configs done of the total
    assert any("<" in f and "config" in f for f in frames)  # elapsed<remaining, per config
    # lockstep groups are one batch size each; the bar names the group being trained
    assert any("training batch_size = 16, lr = 0.1 and 1 more" in f for f in frames), frames
    assert any("training batch_size = 32, lr = 0.1 and 1 more" in f for f in frames), frames
    assert "\r" not in out
    code, _, err = run([*sweep[:-1], "quiet", "-q"], capsys)
    assert code == 0 and "config/s" not in err and "training " not in err
