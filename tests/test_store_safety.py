"""Issue 10's store defects through the command line: a sweep name is never silently reused,
nothing is written by a dry run or a refused size prompt, and a foreign sqlite file gets
advice that leaves it alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import optiscope.cli._options as options
from cli_run import run
from optiscope.storage import SqliteStore

SMALL = ["--epochs", "1", "--n", "200", "--hidden", "8", "-q"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTISCOPE_STORE", raising=False)


def test_reusing_a_sweep_name_is_refused_and_nothing_is_orphaned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["sweep", "--lr", "0.1,0.01", "--name", "s", *SMALL], capsys)[0] == 0
    assert run(["sweep", "--lr", "0.5", "--name", "other", *SMALL], capsys)[0] == 0
    code, out, err = run(["sweep", "--lr", "0.5", "--name", "s", *SMALL], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "already has a sweep named 's' with another spec (it differs in: fixed, grid)" in err
    assert "--name" in err and "`optiscope runs rm s`" in err
    # Removing another sweep leaves s's runs; running s again trains nothing.
    assert run(["runs", "rm", "other", "--yes"], capsys)[0] == 0
    with SqliteStore(create=False) as store:
        assert [r.status for r in store.runs("s")] == ["done", "done"]
    code, _, err = run(["sweep", "--lr", "0.1,0.01", "--name", "s", *SMALL], capsys)
    assert code == 0 and "trained 0, skipped 2 already stored" in err


def test_a_sweep_is_extended_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sweep", "--lr", "0.1,0.01", "--name", "s", *SMALL], capsys)[0] == 0
    code, _, err = run(
        ["sweep", "--lr", "0.1,0.01,0.001", "--name", "s", "--extend", *SMALL], capsys
    )
    assert code == 0 and "trained 1, skipped 2 already stored" in err
    code, _, err = run(["sweep", "--lr", "0.001", "--name", "s", "--extend", *SMALL], capsys)
    assert code == 2 and "leaves out 2 of its configs" in err


def test_dry_run_and_a_refused_size_prompt_leave_no_store(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, _ = run(["sweep", "--lr", "0.1,0.01", "--dry-run"], capsys)
    assert code == 0 and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(options, "CONFIRM_CONFIGS", 1)
    code, _, err = run(["sweep", "--lr", "0.1,0.01", *SMALL], capsys)  # no terminal: refused
    assert code == 2 and "add --yes" in err and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(options.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(options.click, "confirm", _answer_no)
    code, _, err = run(["sweep", "--lr", "0.1,0.01", *SMALL], capsys)
    assert code == 130 and list(tmp_path.iterdir()) == []


def _answer_no(*_args: object, **_kwargs: object) -> None:
    import click

    raise click.Abort


def test_a_foreign_sqlite_file_gets_advice_that_leaves_it_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "invoices.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    before = path.read_bytes()
    code, out, _ = run(["doctor", "--store", str(path)], capsys)
    assert code == 1
    assert "another program's sqlite file (tables invoices)" in out
    assert "optiscope does not write to it" in out
    assert "mv " not in out and ".recover" not in out  # no advice that would touch it
    for args in (["runs", "list"], ["sweep", "--lr", "0.1", *SMALL]):
        code, _, err = run([*args, "--store", str(path)], capsys)
        assert code == 2 and err.count("\n") == 1 and "not an optiscope results store" in err
    assert path.read_bytes() == before
