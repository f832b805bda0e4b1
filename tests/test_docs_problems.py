"""docs/problems.md runs as written, in order, in one folder (its examples build on each other).

Small settings keep it to seconds on two cores; the page says its figures were made with its
own settings (``docs/make_figures_problems.py``). Every ``optiscope sweep`` and ``optiscope
lr-find`` line gets ``--epochs 2 --n 200 --hidden 8`` appended (later flags override earlier
ones); ``lr-find`` also ``--steps 30``; the four-optimizer sweep gets two lrs, two weight
decays and two seeds instead of its 8 x 8 grid and 3 seeds (the comparison needs only some
grid to compute); the schedule sweep gets ``--warmup 0,5`` (two epochs have 18 steps);
``runs boundaries`` gets ``--resolution 20``. Python blocks run in one
namespace after the commands before them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from doc_pages import ROOT, fenced
from optiscope.cli import main

PAGE = ROOT / "docs" / "problems.md"
SMALL = ["--epochs", "2", "--n", "200", "--hidden", "8"]
# The four-optimizer sweep's grid, cut to what a test can train in seconds.
SMALL_GRID = ["--lr", "0.1,0.01", "--weight-decay", "0,0.01", "--seeds", "2"]


def _steps() -> list[tuple[str, str]]:
    """``(kind, text)`` in page order: kind is ``shell`` or ``python``."""
    steps = []
    for lang, body in fenced(PAGE):
        if lang == "python":
            steps.append(("python", body))
        elif lang in ("bash", "console"):
            for line in body.splitlines():
                if lang == "console" and not line.startswith("$ "):
                    continue
                command = line.removeprefix("$ ").partition("  #")[0].strip()
                if command:
                    steps.append(("shell", command))
    return steps


def _small(args: list[str]) -> list[str]:
    if args[0] == "sweep":
        extra = SMALL_GRID if "four-optimizers" in args else []
        if "--warmup" in args:  # (2 epochs of 9 steps: a warmup of 100 leaves no decay)
            extra = ["--warmup", "0,5"]
        return [*args, *SMALL, *extra]
    if args[0] == "lr-find":
        return [*args, *SMALL, "--steps", "30"]
    if args[:2] == ["runs", "boundaries"]:
        return [*args, "--resolution", "20"]
    return args


@pytest.mark.slow  # seconds: a full page
def test_the_page_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTISCOPE_STORE", raising=False)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    steps = _steps()
    commands = [text.split()[1] for kind, text in steps if kind == "shell"]
    assert {"sweep", "lr-find", "runs"} <= set(commands)
    for kind, text in steps:
        if kind == "python":
            exec(compile(text, str(PAGE), "exec"), namespace)
            continue
        args = shlex.split(text)
        assert args[0] == "optiscope", f"no runner for {text!r}"
        code = 0
        try:
            main(_small(args[1:]))
        except SystemExit as exit:
            code = int(exit.code or 0)
        assert code == 0, f"{text!r} exited with {code}"
    assert Path("lr-find.png").is_file() and Path("compare-four-optimizers.png").is_file()
