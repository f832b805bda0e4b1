"""docs/sweeps.md runs as written, in order, in one folder (its examples build on each other).

Every ``optiscope sweep`` line gets ``--epochs 2 --n 200 --hidden 8`` appended (flags override
earlier ones), so the page's sweeps take seconds; the page says its figures were made with the
defaults. A line marked ``# press Ctrl-C`` runs as a process that gets SIGINT once it has
registered its sweep. A ``toml`` block whose first line is ``# FILE`` is written to FILE. Console
lines without ``$ `` are output, not commands.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doc_pages import ROOT, fenced
from optiscope.cli import main
from optiscope.storage import SqliteStore

PAGE = ROOT / "docs" / "sweeps.md"
SMALL = ["--epochs", "2", "--n", "200", "--hidden", "8"]
CLI = [sys.executable, "-c", "from optiscope.cli import main; main()"]


def _steps() -> list[tuple[str, str, str]]:
    """``(kind, text, note)`` in page order: kind is ``shell``, ``python`` or ``file``."""
    steps = []
    for lang, body in fenced(PAGE):
        if lang == "python":
            steps.append(("python", body, ""))
        elif lang == "toml" and body.startswith("# "):
            name, _, content = body.partition("\n")
            steps.append(("file", content, name[2:].strip()))
        elif lang in ("bash", "console"):
            for line in body.splitlines():
                if lang == "console" and not line.startswith("$ "):
                    continue
                command, _, note = line.removeprefix("$ ").partition("  #")
                if command.strip():
                    steps.append(("shell", command.strip(), note.strip()))
    return steps


def _interrupted(args: list[str], cwd: Path) -> str:
    """Run a sweep as a process and press Ctrl-C (SIGINT) once it has registered itself.

    The process is stopped (SIGSTOP) the moment the store shows the sweep, so a slow poll on
    a busy machine cannot let it finish first; it gets SIGINT and continues (SIGCONT).
    """
    store = cwd / ".optiscope" / "results.sqlite"
    name = args[args.index("--name") + 1]

    def registered() -> bool:
        if not store.exists():
            return False
        conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return (
                conn.execute("SELECT 1 FROM sweeps WHERE name = ?", (name,)).fetchone() is not None
            )
        except sqlite3.OperationalError:
            return False  # the schema is being created
        finally:
            conn.close()

    proc = subprocess.Popen([*CLI, *args], cwd=cwd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not registered():
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)
    with SqliteStore(store, create=False) as reader:
        info = reader.sweep_info(name)
    assert info.finished < info.total, "the sweep finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    with SqliteStore(store, create=False) as reader:
        assert reader.sweep_info(name).counts["running"] == 0  # Ctrl-C gave them back
    return err


@pytest.mark.slow
def test_the_page_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTISCOPE_STORE", raising=False)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    steps = _steps()
    assert [kind for kind, _, _ in steps].count("python") >= 2
    for kind, text, note in steps:
        if kind == "file":
            Path(note).write_text(text)
            continue
        if kind == "python":
            exec(compile(text, str(PAGE), "exec"), namespace)
            continue
        args = shlex.split(text)
        assert args[0] == "optiscope", f"no runner for {text!r}"
        args = args[1:]
        if args[0] == "sweep":
            args += SMALL
        if "Ctrl-C" in note:
            err = _interrupted(args, tmp_path)
            assert "optiscope: interrupted:" in err and "optiscope resume lr-wd-10" in err
            continue
        code = 0
        try:
            main(args)
        except SystemExit as exit:
            code = int(exit.code or 0)
        assert code == 0, f"{text!r} exited with {code}"
    with SqliteStore(".optiscope/results.sqlite", create=False) as store:
        done = {info.name: info for info in store.sweeps()}
    assert done["lr-wd-10"].finished == done["lr-wd-10"].total == 90
    assert "notebook" not in done  # removed by the last example
    assert Path("sweep-lr-wd.png").is_file() and Path("lr-wd-ci.png").is_file()


@pytest.mark.slow
def test_the_resumed_sweep_trains_only_what_was_missing(tmp_path: Path) -> None:
    """The page's promise, checked on its own numbers: 45 stored, 45 new, none twice."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("OPTISCOPE_STORE", None)
    grid = ["--lr", "0.1,0.01,0.001", "--weight-decay", "0,0.01,0.1", *SMALL, "-q"]
    first = subprocess.run([*CLI, "sweep", *grid, "--seeds", "5", "--name", "a"], cwd=tmp_path,
                           env=env, capture_output=True, text=True)  # fmt: skip
    assert first.returncode == 0, first.stderr
    err = _interrupted(["sweep", *grid, "--seeds", "10", "--name", "b"], tmp_path)
    assert "45 already in" in err
    resumed = subprocess.run([*CLI, "resume", "b", "-q"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    with SqliteStore(tmp_path / ".optiscope" / "results.sqlite", create=False) as store:
        runs = store.runs("b", curves=False)
    assert len(runs) == 90 and all(r.status == "done" for r in runs)
    seeds_0_to_4 = [r for r in runs if r.config.seed < 5]
    assert all(r.starts == 1 for r in seeds_0_to_4)  # trained once, by sweep a
