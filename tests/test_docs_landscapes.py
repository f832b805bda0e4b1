"""docs/exercise-q2-q3.md runs as written: its Python blocks in order in one namespace, and its
``optiscope`` command lines through the CLI, in a temporary folder; its images exist and are
small."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks
from optiscope.cli import main

PAGE = ROOT / "docs" / "exercise-q2-q3.md"


def _blocks(language: str) -> list[str]:
    return blocks(PAGE, (language,))


@pytest.mark.slow
def test_python_examples_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    for name in (
        "q2-momentum.png",
        "q2-race-rosenbrock.png",
        "q3-weight-decay.png",
        "q3-adamw.png",
    ):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


COMMANDS = [
    line.strip() for block in _blocks("bash") for line in block.splitlines() if line.strip()
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.split("--out")[0][:60] for c in COMMANDS])
def test_command_examples_run(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = shlex.split(command)
    assert args[0] == "optiscope", f"no runner for {command!r}"
    monkeypatch.chdir(tmp_path)
    code = 0
    try:
        main([*args[1:], *(["-q"] if args[1] in ("race", "heatmap") else [])])
    except SystemExit as exit:
        code = int(exit.code or 0)
    assert code == 0, f"{command!r} exited with {code}"
    written = [args[i + 1] for i, a in enumerate(args) if a in ("--out", "--gif")]
    for name in written:
        assert (tmp_path / name).stat().st_size > 0
