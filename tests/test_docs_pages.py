"""Every page's examples have a test that runs them (or a stated reason they are not run), every
block says its language, every image a page shows exists, and the benchmarks run.

The benchmark commands of docs/performance.md take minutes or need a GPU, so they are not
run as written; each is listed below with its reason, and the scripts themselves run here in
their small smoke settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks, fenced, images, pages

# Which test runs each page's examples.
RUN_BY = {
    "README.md": "test_docs.py",
    "docs/exercise-q1.md": "test_docs.py",
    "docs/exercise-q2-q3.md": "test_docs_landscapes.py",
    "docs/sweeps.md": "test_docs_sweeps.py",
    "docs/problems.md": "test_docs_problems.py",
    "docs/performance.md": "test_docs_pages.py (the commands below, in smoke settings)",
    "docs/web.md": "test_docs_web.py",
    "docs/architecture.md": "none: its one block is a diagram",
    "docs/cluster.md": "test_docs_cluster.py",
}

# The commands of docs/performance.md, and why each is not run as written.
PERFORMANCE_NOT_RUN = {
    ".venv/bin/python benchmarks/bench_engine.py --compiled --json bench.json": (
        "about 7 minutes on a quiet machine"
    ),
    ".venv/bin/python benchmarks/bench_heatmap.py": "a measurement of about 10 s",
    ".venv/bin/python benchmarks/bench_compiled.py --k 64 --epochs 4": (
        "torch.compile takes 10-25 s to compile, and the result is a measurement"
    ),
    ".venv/bin/python benchmarks/bench_gpu.py": "needs a CUDA GPU",
    ".venv/bin/python -m pytest tests/test_engine_parity.py -k cuda": (
        "runs in this suite already (and skips without a GPU)"
    ),
}


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


RUNNABLE = ("python", "bash", "console", "sh", "shell")


@pytest.mark.parametrize("page", pages(), ids=_name)
def test_every_page_has_its_examples_run(page: Path) -> None:  # (and says so in RUN_BY)
    assert _name(page) in RUN_BY, f"{_name(page)}: add a test that runs its examples"
    runner = RUN_BY[_name(page)].split()[0]
    if runner == "none:":
        assert not blocks(page, RUNNABLE), f"{_name(page)} has examples now: run them"
        return
    assert page.name in (ROOT / "tests" / runner).read_text(), f"{runner} does not read it"


@pytest.mark.parametrize("page", pages(), ids=_name)
def test_every_block_says_its_language(page: Path) -> None:
    """An untagged block would be skipped silently by the tests that run examples."""
    untagged = [body.splitlines()[0] for lang, body in fenced(page) if not lang]
    assert not untagged, f"{_name(page)}: tag these blocks (```bash, ```text, ...): {untagged}"


@pytest.mark.parametrize("page", pages(), ids=_name)
def test_every_image_exists_and_is_small(page: Path) -> None:
    """The figures are made by docs/make_figures_*.py; kept under 1 MB for the repository."""
    missing = [str(image) for image in images(page) if not image.is_file()]
    assert not missing, f"{_name(page)} shows images that do not exist: {missing}"
    large = [str(image) for image in images(page) if image.stat().st_size >= 1_000_000]
    assert not large, f"{_name(page)} shows images of 1 MB or more: {large}"
    for image in images(page):
        magic = {".png": b"\x89PNG", ".gif": b"GIF8", ".svg": b"<"}[image.suffix]
        assert image.read_bytes().startswith(magic), f"{image} is not a {image.suffix} file"


def test_every_performance_command_is_accounted_for() -> None:
    commands = [
        line.split("  #")[0].strip()
        for block in blocks(ROOT / "docs" / "performance.md", ("bash",))
        for line in block.splitlines()
        if line.strip()
    ]
    assert sorted(commands) == sorted(PERFORMANCE_NOT_RUN)


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_the_engine_benchmark_runs_and_its_curves_agree(tmp_path: Path) -> None:
    """bench_engine.py --quick: every workload, the literal loop's curves equal optiscope's."""
    out = tmp_path / "bench.json"
    done = _script("benchmarks/bench_engine.py", "--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["workload"] for r in rows] == [
        "lr sweep", "batch-size sweep", "five sweeps", "16-config grid",
    ]  # fmt: skip
    assert all(r["max_curve_difference"] == 0 for r in rows)
    assert "| workload | configs |" in done.stdout
    rivals = json.loads(out.read_text())["competitors"]
    assert [r["name"] for r in rivals] == [
        "literal loop, 2 processes", "eager torch.func vmap + stacked AdamW, 1 process",
    ]  # fmt: skip
    assert rivals[0]["difference"] == 0  # the literal loop is exact in any process
    targets = json.loads(out.read_text())["targets"]
    assert len(targets) == 7
    assert {t["met"] for t in targets.values()} <= {"met", "not met", "-"}
    assert targets["curves identical to the literal loop (max difference 0)"]["met"] == "met"


@pytest.mark.slow
def test_the_heatmap_benchmark_runs_and_equals_the_hand_loop() -> None:
    done = _script("benchmarks/bench_heatmap.py", "--side", "8", "--steps", "50", "--repeats", "1")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]  # 1: positions differ
    assert "max difference of final positions 0" in done.stdout


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_the_gpu_benchmark_runs_on_the_cpu_in_its_smoke_settings() -> None:
    done = _script("benchmarks/bench_gpu.py", "--device", "cpu", "--sizes", "8", "--epochs", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].endswith("| 0 |")  # max curve difference


@pytest.mark.slow
def test_the_fused_benchmark_runs_and_both_paths_give_the_same_curves() -> None:
    """bench_fused.py in smoke settings, for each fused optimizer: the curves of the fused
    kernels and of the torch calls differ by 0.0."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on PATH: no fused kernels to compare")
    done = _script(
        "benchmarks/bench_fused.py",
        *("--optimizer", "adamw", "rmsprop", "adagrad", "nadam", "radam"),
        *("--k", "2", "--epochs", "1", "--repeats", "1", "--steps", "2"),
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]  # 1: no kernel here
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "K |" not in line
    ]
    assert [row.split("|")[1].strip() for row in rows] == [
        "adamw",
        "rmsprop",
        "adagrad",
        "nadam",
        "radam",
    ]
    assert all(row.rstrip().endswith("| 0.0 |") for row in rows), rows
