"""docs/web.md runs as written, in order, in one folder: its sweep, ``optiscope serve`` (a real
server, on a free port: ``--port`` is appended) and its report; the lines that cannot run here
are listed with the reason. The ``bench_web.py`` command runs in its smoke settings."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks
from web_server import chromium_missing, serve

PAGE = ROOT / "docs" / "web.md"
CLI = [sys.executable, "-c", "from optiscope.cli import main; main()"]

NOT_RUN = {
    "ssh -N -L 8765:127.0.0.1:8765 you@lab-machine": (
        "reaches another machine; nothing in the tests leaves 127.0.0.1"
    ),
}
SMOKE = {".venv/bin/python benchmarks/bench_web.py": ["--quick"]}


def _commands(languages: tuple[str, ...]) -> list[str]:
    return [
        line.split("  #")[0].strip()
        for block in blocks(PAGE, languages)
        for line in block.splitlines()
        if line.strip()
    ]


def test_every_command_is_run_or_has_a_reason() -> None:
    bash = _commands(("bash",))
    assert [c for c in bash if c.startswith("optiscope")] == [
        "optiscope sweep --name lr-wd --lr 0.1,0.01,0.001 --weight-decay 0,0.01 --seeds 3 "
        "--epochs 10 --yes",
        "optiscope serve",
        "optiscope report lr-wd --out lr-wd.html",
    ]
    others = [c for c in bash if not c.startswith("optiscope")]
    assert others == list(NOT_RUN)
    assert [c for c in _commands(("text",)) if c.startswith(".venv")] == list(SMOKE)


@pytest.mark.slow
def test_the_page_runs_as_written(tmp_path: Path) -> None:
    env = {**os.environ, "OPTISCOPE_STORE": str(tmp_path / ".optiscope" / "results.sqlite")}
    store = Path(env["OPTISCOPE_STORE"])
    for command in _commands(("bash",)):
        if command in NOT_RUN:
            continue
        args = shlex.split(command)[1:]
        if args[0] == "serve":
            with serve(store) as server:  # `optiscope serve --store S --port P`, S the default
                assert f"optiscope lab for {store}" in server.output()
                (sweep,) = server.get("/api/sweeps").json()["sweeps"]
                assert sweep["name"] == "lr-wd" and sweep["counts"]["done"] == 18
            continue
        if args[0] == "sweep":
            args += ["--n", "200", "--hidden", "8", "--epochs", "2"]  # seconds, not a minute
        done = subprocess.run(
            CLI + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
    html = (tmp_path / "lr-wd.html").read_text()
    assert "optiscope sweep --config lr-wd.json" in html and "/static/" not in html


@pytest.mark.slow
def test_the_web_benchmark_runs_in_its_smoke_settings(tmp_path: Path) -> None:
    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_web.py", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "live latency, commit -> page, 3 epochs" in done.stdout
    assert "sweep page (256 configs)" in done.stdout
