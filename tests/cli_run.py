"""Run the ``optiscope`` command line in-process, as the CLI tests do."""

from __future__ import annotations

import pytest

from optiscope.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI with ``args``; returns (exit code, stdout, stderr)."""
    code = 0
    try:
        main(args)
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
