"""The landscape commands: one picture per command, exit code 2 and one line on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli_run import run as _run
from optiscope.cli._landscapes import parse_axis, parse_point
from optiscope.landscapes import LANDSCAPES


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_functions_lists_every_test_function(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["functions"], capsys)
    assert code == 0
    for name, f in LANDSCAPES.items():
        assert f"{name}: {f.formula}" in out
    code, out, _ = _run(["functions", "--json"], capsys)
    assert [entry["name"] for entry in json.loads(out)] == list(LANDSCAPES)


def test_rosenbrock_is_the_exercises_question_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        [
            "rosenbrock",
            "--steps",
            "500",
            "--lr",
            "0.01",
            "--beta",
            "0.9",
            "--out",
            "q2.png",
            "--csv",
            "q2.csv",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.startswith("Momentum (lr=0.01, beta=0.9) on Rosenbrock (a=1, b=2), 500 steps")
    assert Path("q2.png").read_bytes().startswith(b"\x89PNG")
    assert len(Path("q2.csv").read_text().splitlines()) == 502  # header + 501 rows
    code, out, _ = _run(
        ["rosenbrock", "--steps", "20", "--b", "100", "--json", "--start", "-1.5,2"], capsys
    )
    assert code == 0 and json.loads(out)["status"] == "done"


@pytest.mark.slow
def test_a_race_gif_of_four_optimizers_on_himmelblau_is_one_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(
        [
            "race",
            "--fn",
            "himmelblau",
            "--steps",
            "120",
            "--opt",
            "momentum lr=0.01 beta=0.9",
            "--opt",
            "sgd lr=0.01",
            "--opt",
            "adam lr=0.1",
            "--opt",
            "rmsprop lr=0.01",
            "--gif",
            "race.gif",
            "--frames",
            "8",
            "--csv",
            "race.csv",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert Path("race.gif").read_bytes().startswith(b"GIF8")
    assert Path("race-himmelblau.png").is_file() and Path("race.csv").is_file()
    assert out.count("done") == 4
    code, out, _ = _run(
        [
            "race",
            "--fn",
            "rosenbrock a=1 b=2",
            "--steps",
            "30",
            "--json",
            "-q",
            "--weight-decay",
            "0.1",
            "--decay",
            "l2",
            "--opt",
            "momentum",
            "--opt",
            "adamw lr=0.1 weight_decay=0",  # AdamW's own 0.01 would stack on the race's
        ],
        capsys,
    )
    report = json.loads(out)
    assert code == 0 and len(report["optimizers"]) == 2 and report["decay"] == "l2"
    # the default optimizers with a race-level decay: AdamW's own default 0.01 is set aside
    code, out, err = _run(
        ["race", "--steps", "30", "--json", "-q", "--weight-decay", "0.1"], capsys
    )
    assert code == 0, err
    labels = [row["optimizer"] for row in json.loads(out)["optimizers"]]
    assert len(labels) == 4 and any("AdamW" in label for label in labels)
    assert not any("weight_decay=0.01" in label for label in labels), labels


def test_heatmap_and_weight_decay_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        [
            "heatmap",
            "--x",
            "lr=1e-3..0.5:6:log",
            "--y",
            "beta=0..0.9:4",
            "--steps",
            "50",
            "--csv",
            "cells.csv",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.startswith("24 cells:") and Path("heatmap.png").is_file()
    assert len(Path("cells.csv").read_text().splitlines()) == 25
    code, out, err = _run(["weight-decay", "--wd", "0,0.1", "--steps", "300", "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [row["weight_decay"] for row in rows] == [0.0, 0.1] and Path(
        "weight-decay.png"
    ).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["race", "--fn", "nope"], "unknown test function 'nope'"),
        (["race", "--opt", "adamx lr=0.1"], "unknown optimizer 'adamx'"),
        (["race", "--opt", "adam lr=fast"], "`lr` = 'fast' is not a number"),
        (["race", "--opt", "adam lr=-1"], "`lr` = -1 is outside (0, inf)"),
        (["race", "--start", "1"], "'1' is not two numbers x,y"),
        (["race", "--gif", "race.mp4"], "must end in .gif"),
        (
            ["race", "--opt", "adamw lr=0.1", "--weight-decay", "0.1"],
            "has its own weight_decay = 0.01 and the race adds weight_decay = 0.1",
        ),
        (["rosenbrock", "--beta", "1.5"], "`beta` = 1.5 is outside [0, 1)"),
        (["rosenbrock", "--b", "-2"], "`b` = -2.0 is too small"),
        (["rosenbrock", "--steps", "zero"], "'zero' is not a valid integer"),
        (["heatmap", "--x", "lr=1..x"], "the range ends must be numbers"),
        (["heatmap", "--x", "lr=1e-3..1:64:sqrt"], "not 'sqrt'"),
        (
            ["heatmap", "--opt", "asgd"],
            "ASGD cannot run a sensitivity map (it has no vectorized update); use one of "
            "adamw, adam, sgd, rmsprop, adagrad, nadam, radam, adamax, momentum, or a step "
            "function",
        ),
        (["heatmap", "--x", "beta=0,1", "--y", "beta=0,1"], "both set 'beta'"),
        (["heatmap", "--x", "lr=0.01,0.01"], "grid['lr'] repeats 0.01; give each value once"),
        (
            ["heatmap", "--x", "lr=1e-3..1:100000", "--y", "beta=0..0.9:100000"],
            "= 10,000,000,000 cells; a map runs at most 262,144",
        ),
        (["weight-decay", "--wd", "0,x"], "--wd takes numbers, got 'x'"),
        (["weight-decay", "--opt", "adamw lr=0.1"], "has its own weight_decay"),
        (["weight-decay", "--opt", "adagrad lr=0.1"], "rest-point rules cover"),
        # the start's value overflows float32: nothing to draw, so refused before running
        (["rosenbrock", "--start", "1e10,0"], "at the start (1e+10, 0) is inf in float32"),
        (["rosenbrock", "--a", "1e20"], "is inf in float32: not a finite number"),
        (["rosenbrock", "--b", "1e39"], "is inf in float32: not a finite number"),
        (["race", "--start", "1e30,0"], "is inf in float32: not a finite number"),
        (["heatmap", "--start", "1e30,0"], "is inf in float32: not a finite number"),
        (["weight-decay", "--start", "1e30,0"], "is inf in float32: not a finite number"),
        # bad `name key=value` grammar: one line that names the flag, before torch loads
        (["race", "--opt", "adam lr"], "Invalid value for --opt: in 'adam lr': 'lr' is not"),
        (["heatmap", "--opt", "adam lr=x"], "Invalid value for --opt: in 'adam lr=x': `lr`"),
        (["weight-decay", "--fn", "rosenbrock b"], "Invalid value for --fn: in 'rosenbrock b'"),
        (["race", "--fn", "lr=1"], "Invalid value for --fn: 'lr=1' does not start with a name"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(args, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optiscope: error:")
    assert message in lines[0]


def test_parse_axis_and_point() -> None:
    axis = parse_axis("--x", "lr=1e-3..1:4:log", 32)
    assert axis.name == "lr" and axis.log
    assert axis.values == pytest.approx([1e-3, 1e-2, 1e-1, 1.0], rel=1e-12)
    beta = parse_axis("--y", "beta=0..0.9:4", 32)
    assert beta.values == pytest.approx([0.0, 0.3, 0.6, 0.9]) and not beta.log
    assert len(parse_axis("--y", "beta=0..0.9", 7).values) == 7
    assert parse_axis("--y", "beta=0,0.5,0.9", 7).values == (0.0, 0.5, 0.9)
    assert parse_axis("--y", "lr=0.1..0.2:1", 7).values == (0.1,)
    assert parse_point("--start", "-1, 2.5") == (-1.0, 2.5)
    for bad in ["lr", "lr=", "lr=0..1:log", "=1,2", "lr=a,b"]:
        with pytest.raises(click.BadParameter):
            parse_axis("--x", bad, 4)
    with pytest.raises(click.BadParameter):
        parse_point("--start", "1,nan")


def test_a_log_axis_is_drawn_log_from_its_flag_not_guessed_from_its_values() -> None:
    """`lr=0.01..0.04:3:log` spans a factor of 4 and `lr=0.001,0.01,0.1` is spaced
    geometrically: the figure follows `:log`, not the spacing of the values."""
    from optiscope.api import sensitivity_map

    for text, log in [("lr=0.01..0.04:3:log", True), ("lr=0.001,0.01,0.1", False)]:
        x = parse_axis("--x", text, 4)
        y = parse_axis("--y", "beta=0,0.5", 4)
        result = sensitivity_map("booth", "momentum", (x, y), steps=3)
        assert (result.x_log, result.y_log) == (log, False)
        axes = result.plot().axes[0]
        assert axes.get_xscale() == ("log" if log else "linear")


def test_the_command_line_module_does_not_import_torch() -> None:
    code = "import sys, optiscope.cli._landscapes; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_a_diverged_rosenbrock_run_is_strict_json_with_nulls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(
        ["rosenbrock", "--lr", "3", "--beta", "0", "--steps", "50", "--json"], capsys
    )
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    assert report["status"] == "diverged" and report["diverged_step"] == 3
    assert report["distance"] is None and report["final_x"] is None


def test_rosenbrock_that_diverges_prints_a_line_and_a_figure_that_say_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`optiscope rosenbrock --lr 10` used to raise a TypeError formatting the missing value."""
    code, out, err = _run(["rosenbrock", "--lr", "10", "--steps", "50", "--out", "r.png"], capsys)
    assert code == 0, err
    assert "diverged at step" in out and "nan" not in out
    assert Path("r.png").read_bytes().startswith(b"\x89PNG")


def test_weight_decay_on_a_function_whose_minimum_decay_cannot_move_still_draws(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The quadratic's minimum is the origin: every distance is 0, nothing fits log axes."""
    args = ["weight-decay", "--fn", "quadratic condition=1e6", "--wd", "0,0.1", "--out", "q.png"]
    code, _, err = _run(args, capsys)
    assert code == 0, err
    assert Path("q.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("opt", "y_axis"),
    [("rmsprop", "alpha=0.5..0.99:8"), ("adagrad", "lr_decay=0..0.5:8")],
)
def test_heatmap_runs_rmsprop_and_adagrad(
    opt: str, y_axis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["heatmap", "--opt", opt, "--x", "lr=1e-3..0.1:8:log", "--y", y_axis]
    code, out, err = _run([*args, "--steps", "50", "--csv", "cells.csv", "-q"], capsys)
    assert code == 0, err
    assert out.startswith("64 cells:") and Path("heatmap.png").is_file()
    assert len(Path("cells.csv").read_text().splitlines()) == 65


def test_heatmap_sorts_unsorted_axis_values(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["heatmap", "--x", "lr=0.1,0.001,0.01", "--y", "beta=0.5", "--steps", "20"]
    code, _, err = _run([*args, "--csv", "cells.csv", "-q"], capsys)
    assert code == 0, err
    lines = Path("cells.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["0.001", "0.01", "0.1"]


def test_the_race_table_says_at_which_step_a_run_diverged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(
        ["race", "--opt", "sgd lr=0.01", "--opt", "adam lr=0.1", "--steps", "50", "-q"], capsys
    )
    assert code == 0, err
    sgd, adam = out.splitlines()[1:3]
    assert "diverged at step 4" in sgd and " done " in adam


def test_frames_help_says_it_is_the_most_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["race", "--help"], capsys)
    assert code == 0 and "The most GIF frames" in " ".join(out.split())


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_python_dash_m_runs_the_same_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "optiscope", "functions"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "himmelblau" in done.stdout.lower()
    bad = subprocess.run([sys.executable, "-m", "optiscope", "race", "--fn", "nope"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def _every_option() -> list[tuple[str, click.Option]]:
    from optiscope.cli._main import cli

    found = []
    commands: list[tuple[str, click.Command]] = [("optiscope", cli)]
    while commands:
        path, command = commands.pop()
        if isinstance(command, click.Group):
            commands += [(f"{path} {name}", sub) for name, sub in command.commands.items()]
        found += [(path, p) for p in command.params if isinstance(p, click.Option)]
    return found


def test_every_option_whose_help_says_repeat_takes_several_values() -> None:
    """Click keeps the last of a repeated single-valued option silently: `weight-decay --opt A
    --opt B` ran B alone while its help said 'Repeat for several'."""
    options = _every_option()
    assert any(option.multiple for _, option in options)  # the scan sees the commands
    for path, option in options:
        if re.search(r"\brepeat (for|it|the)\b", option.help or "", re.IGNORECASE):
            assert option.multiple, f"{path} {option.opts[0]}: help says repeat, not multiple"


def test_weight_decay_refuses_a_repeated_opt_instead_of_keeping_the_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["weight-decay", "--opt", "momentum", "--opt", "adam lr=0.01", "--steps", "5"]
    code, out, err = _run(args, capsys)
    assert code == 2 and out == ""
    assert "'--opt': given 2 times ('momentum', 'adam lr=0.01')" in err
    assert len(err.strip().splitlines()) == 1 and not Path("weight-decay.png").exists()
