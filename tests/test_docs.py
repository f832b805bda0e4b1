"""Every example in the README and the docs runs, as written.

Python blocks of a page run in order in one namespace; shell blocks run line by line:
``optiscope ...`` through the CLI's ``main`` and ``bash scripts/...`` as a process, each in a
fresh temporary folder (the main job in the repository, where it writes ``out/``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks
from optiscope.cli import main

PAGES = ["README.md", "docs/exercise-q1.md"]
# The test command itself would run this test again.
NOT_RUN = {"bash scripts/test.sh": "it is the command that runs this test"}


def _blocks(page: str, languages: tuple[str, ...]) -> list[str]:
    return blocks(ROOT / page, languages)


def _shell_lines(page: str) -> list[str]:
    lines = []
    for block in _blocks(page, ("bash", "console")):
        for line in block.splitlines():
            command = line.split("  #")[0].strip().removeprefix("$ ")
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(page, ("python",))
    if not blocks:
        pytest.skip(f"{page} has no Python examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    for block in blocks:
        exec(compile(block, f"<{page}>", "exec"), namespace)


# The main job (a process that trains every sweep) and batch size 2 (350 steps an epoch) take
# seconds: `bash scripts/test.sh -m "not slow"` leaves them out.
SLOW = ("bash scripts/main.sh", "--batch-size 2,")


def _marks(command: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if any(part in command for part in SLOW) else []


COMMANDS = [
    pytest.param(page, line, id=line, marks=_marks(line))
    for page in PAGES
    for line in _shell_lines(page)
]


@pytest.mark.parametrize(("page", "command"), COMMANDS)
def test_shell_examples_run(
    page: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if command in NOT_RUN:
        pytest.skip(NOT_RUN[command])
    args = shlex.split(command)
    if args[0] == "optiscope":
        monkeypatch.chdir(tmp_path)
        code = 0
        try:
            main(args[1:])
        except SystemExit as exit:
            code = int(exit.code or 0)
        assert code == 0, f"{command!r} exited with {code}"
        return
    assert args[:2] == ["bash", "scripts/main.sh"], f"no runner for {command!r}"
    done = subprocess.run(
        args,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "lr = 0.001" in done.stdout
    assert (ROOT / "out" / "compare-lr.png").read_bytes().startswith(b"\x89PNG")
