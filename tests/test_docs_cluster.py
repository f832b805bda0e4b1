"""docs/cluster.md runs on a head and a second node started on this machine.

Each command of the page is listed below with how it runs: the ``ray start`` lines start the
test's two nodes (with a free port, one CPU each, addresses on 127.0.0.1 and a temporary
session folder, stopped by PID), ``HEAD_IP:6379`` becomes that head's address, and the rest
runs as written in a temporary folder; the stored curves must equal an in-process run's.
The benchmark runs in its smoke settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks
from optiscope.storage import SqliteStore
from optiscope.sweeps import SweepSpec, run_configs, stop_ray
from ray_nodes import ray_home, two_nodes

pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
pytest.importorskip("psutil", reason="the ray extra is not installed (psutil)")

PAGE = ROOT / "docs" / "cluster.md"
CLI = [sys.executable, "-c", "from optiscope.cli import main; main()"]
HEAD = "ray start --head --port 6379 --num-cpus 8 --include-dashboard=false"
JOIN = "ray start --address HEAD_IP:6379"
SWEEP = (
    "optiscope sweep --lr 0.1,0.03,0.01,0.003 --weight-decay 0,0.01 --seeds 4 --epochs 10 "
    "--name cluster-demo --backend ray --address HEAD_IP:6379 --yes"
)
RESUME = "optiscope resume cluster-demo --backend ray --address HEAD_IP:6379"
NOT_RUN = {
    "pip install 'optiscope[ray]'": "the project's setup installs the extra (bootstrap.sh)",
    "optiscope serve": "a server that runs until stopped; the web tests start and stop it",
    "ray stop": "stops every Ray process of the machine by name; the test stops its nodes by PID",
    ".venv/bin/python benchmarks/bench_ray.py --json bench-ray.json": (
        "minutes; runs below in its smoke settings"
    ),
}


def _commands() -> list[str]:
    return [line.strip() for b in blocks(PAGE, ("bash",)) for line in b.splitlines() if line]


def test_every_command_of_the_page_is_accounted_for() -> None:
    assert sorted(_commands()) == sorted([HEAD, JOIN, SWEEP, RESUME, *NOT_RUN])
    assert "BENCHMARK_TABLE" not in PAGE.read_text() and "ESTIMATE" not in PAGE.read_text()


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow  # a two-node Ray and three sweeps: about a minute
def test_the_page_runs_on_two_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stop_ray()
    with ray_home(monkeypatch) as folder, two_nodes(folder / "cluster") as (address, _):
        # (HEAD and JOIN: the two nodes, as the page starts them, on this machine)
        def here(command: str) -> list[str]:
            return command.replace("HEAD_IP:6379", address).split()[1:]

        _run([*CLI, *here(SWEEP)], tmp_path)
        [python] = blocks(PAGE, ("python",))
        printed = _run([sys.executable, "-c", python.replace("HEAD_IP:6379", address)], tmp_path)
        assert "rank" in printed or "config" in printed
        _run([*CLI, *here(RESUME)], tmp_path)
    with SqliteStore(tmp_path / ".optiscope" / "results.sqlite", create=False) as store:
        runs = store.runs("cluster-demo")
        spec = SweepSpec.from_dict(store.sweep_info("cluster-demo").spec)
    assert len(runs) == 32 and all(r.status == "done" and r.starts == 1 for r in runs)
    expected = {r.config.key(): r for r in run_configs([p.config for p in spec.expand()])}
    for run in runs:
        assert run.curve is not None
        assert run.curve.valid_loss == expected[run.key].curve.valid_loss  # max difference 0.0


@pytest.mark.slow  # a Ray and a pool start: about 30 s
def test_the_benchmark_runs_in_its_smoke_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ray_home(monkeypatch) as folder:
        out = tmp_path / "bench.json"
        env = {**os.environ, "RAY_TMPDIR": str(folder)}
        args = ["--sizes", "8", "--epochs", "1", "--repeats", "1", "--plan", "2000"]
        done = subprocess.run(
            [sys.executable, "benchmarks/bench_ray.py", *args, "--json", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    numbers = json.loads(out.read_text())
    assert [r["same"] for r in numbers["rows"]] == [True]
    assert numbers["plan"]["configs"] == 2000 and numbers["plan"]["tasks"] < 2000 / 8
