"""Answers about this machine kept on disk between processes (optim/_facts.py).

What must hold: a later process on the same machine and software takes the answers instead
of asking again, and trains to the same bits; any change the answers may depend on gives a
fresh start; a damaged or unwritable file costs only the time to ask again; turned off,
nothing is read or written.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import torch

from optiscope.engine import _exact
from optiscope.engine._exact import (
    Candidate,
    Operand,
    choose,
    known_choices,
    learn_choices,
    per_model,
    save_choices,
)
from optiscope.engine._stacked_net import OUTPUT_BIAS_PROBE, StackedMLP
from optiscope.models._stacked import stack_mlps
from optiscope.optim import _facts, _native
from optiscope.optim._facts import ENV, Facts, enabled, fingerprint


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Answers on (the suite runs with them off), kept under ``tmp_path``."""
    monkeypatch.setenv(ENV, "on")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _facts.machine_facts.cache_clear()
    yield tmp_path / "optiscope"
    _facts.machine_facts.cache_clear()


def test_answers_are_read_back_and_merged_with_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    first, second = Facts(path), Facts(path)
    assert first.answers("exact") == {}
    first.answers("exact")  # read before the other writer writes
    second.remember("exact", {"('a', 1)": "stacked"})
    first.remember("exact", {"('b', 2)": "per_model"})
    first.remember("kernels", {"Adam: lib.so sqrtf": True})
    again = Facts(path)
    assert again.answers("exact") == {"('a', 1)": "stacked", "('b', 2)": "per_model"}
    assert again.answers("kernels") == {"Adam: lib.so sqrtf": True}
    assert [p.name for p in tmp_path.iterdir()] == ["facts.json"]  # no temporary file left


def test_a_new_file_clears_the_stale_ones(tmp_path: Path) -> None:
    old, recent = tmp_path / "facts-old.json", tmp_path / "facts-recent.json"
    unfinished, other = tmp_path / "facts-abc.tmp", tmp_path / "fused_adam-0.so"
    for path in (old, recent, unfinished, other):
        path.write_text("{}")
    week_ago = time.time() - (_facts.STALE_DAYS + 1) * 86400
    for path in (old, unfinished, other):
        os.utime(path, (week_ago, week_ago))
    Facts(tmp_path / "facts-new.json").remember("exact", {"k": "v"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "facts-new.json",
        "facts-recent.json",
        "fused_adam-0.so",
    ]


@pytest.mark.parametrize("text", ["", "not json {", "[1, 2]", '{"exact": [1], "kernels": 3}'])
def test_a_damaged_file_counts_as_empty_and_is_replaced(tmp_path: Path, text: str) -> None:
    path = tmp_path / "facts.json"
    path.write_text(text)
    assert Facts(path).answers("exact") == {}
    Facts(path).remember("exact", {"k": "v"})
    assert json.loads(path.read_text()) == {"exact": {"k": "v"}}


def test_an_unwritable_place_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    Facts(blocker / "facts.json").remember("exact", {"k": "v"})  # its folder cannot be made
    assert Facts(blocker / "facts.json").answers("exact") == {}  # the next process asks again


@pytest.mark.parametrize(("value", "on"), [("", True), ("on", True), ("off", False), ("0", False)])
def test_the_switch(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv(ENV, value)
    assert enabled() is on


def test_off_means_nothing_is_read_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _facts.machine_facts.cache_clear()
    try:
        assert _facts.machine_facts() is None
    finally:
        _facts.machine_facts.cache_clear()


def test_the_fingerprint_follows_what_the_answers_depend_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = fingerprint()
    assert fingerprint() == base
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")  # MKL's code path
    assert fingerprint() != base
    monkeypatch.delenv("MKL_CBWR")
    assert fingerprint() == base
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium" if precision != "medium" else "highest")
    try:
        assert fingerprint() != base
    finally:
        torch.set_float32_matmul_precision(precision)
    assert fingerprint() == base


def test_the_default_dtype_is_in_the_fingerprint() -> None:
    base = fingerprint()
    torch.set_default_dtype(torch.float64)
    try:
        assert fingerprint() != base
    finally:
        torch.set_default_dtype(torch.float32)


def test_the_source_hash_reads_contents_at_any_depth(tmp_path: Path) -> None:
    """An edit that keeps a file's size (and, under some installers, its time) still
    changes the hash; files outside the parts named, or of other kinds, do not."""
    package = tmp_path / "pkg"
    (package / "engine" / "inner").mkdir(parents=True)
    deep = package / "engine" / "inner" / "kernel.py"
    deep.write_text("x = 1\n")
    (package / "_version.py").write_text("v = '1'\n")
    parts = ("engine", "_version.py")
    base = _facts.source_hash(package, parts)
    stat = deep.stat()
    deep.write_text("x = 2\n")
    os.utime(deep, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    assert _facts.source_hash(package, parts) != base
    deep.write_text("x = 1\n")
    assert _facts.source_hash(package, parts) == base
    (package / "cli.py").write_text("")  # not a part
    (package / "engine" / "notes.md").write_text("")  # not source
    assert _facts.source_hash(package, parts) == base
    (package / "_version.py").write_text("v = '2'\n")
    assert _facts.source_hash(package, parts) != base


def test_answers_kept_under_another_fingerprint_are_not_read(kept: Path) -> None:
    kept.mkdir(parents=True)
    (kept / "facts-0123456789abcdef01234567.json").write_text(
        json.dumps({"exact": {"('planted', 'cpu')": "stacked"}})
    )
    facts = _facts.machine_facts()
    assert facts is not None and facts.path.parent == kept
    assert facts.answers("exact") == {}


def test_nothing_is_written_once_the_settings_changed_in_the_process(kept: Path) -> None:
    """Answers found after, say, a change of torch's matmul precision may be the new
    setting's: they are not written into the file of the old one."""
    facts = _facts.machine_facts()
    assert facts is not None
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium" if precision != "medium" else "highest")
    try:
        facts.remember("exact", {"('after', 'cpu')": "stacked"})
    finally:
        torch.set_float32_matmul_precision(precision)
    assert not facts.path.exists()
    facts.remember("exact", {"('before', 'cpu')": "stacked"})
    assert json.loads(facts.path.read_text()) == {"exact": {"('before', 'cpu')": "stacked"}}


def test_a_fingerprint_that_cannot_be_had_at_write_time_skips_the_write(
    kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = _facts.machine_facts()
    assert facts is not None

    def vanished() -> str:
        raise FileNotFoundError("a source file went away during an upgrade")

    monkeypatch.setattr(_facts, "fingerprint", vanished)
    facts.remember("exact", {"k": "v"})  # no error: training is not broken by it
    assert not facts.path.exists()


def test_no_home_folder_means_no_kept_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "on")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    _facts.machine_facts.cache_clear()
    try:
        assert _facts.machine_facts() is None
    finally:
        _facts.machine_facts.cache_clear()


def _kernel_or_skip() -> _native.FusedAdam:
    kernel = _native.load()
    if kernel is None:
        pytest.skip(f"no fused Adam kernel here: {_native.unavailable_reason()}")
    return kernel


def _counting(answer: bool) -> tuple[Callable[[object], bool], list[int]]:
    calls = [0]

    def agrees(kernel: object) -> bool:
        calls[0] += 1
        return answer

    return agrees, calls


def test_a_kernel_check_is_remembered_either_way(kept: Path) -> None:
    kernel = _kernel_or_skip()
    agrees, calls = _counting(True)
    assert _native.checked(kernel, agrees, [], "Test") is kernel
    assert _native.checked(kernel, agrees, [], "Test") is kernel
    assert calls == [1]
    refuses, refused = _counting(False)
    reasons: list[str] = []
    assert _native.checked(kernel, refuses, reasons, "Other") is None
    _facts.machine_facts.cache_clear()  # as a new process would
    assert _native.checked(kernel, refuses, reasons, "Other") is None
    assert refused == [1]
    assert reasons == ["the fused Other kernel does not reproduce torch's operations here"] * 2


def test_a_rebuilt_library_is_checked_again(tmp_path: Path) -> None:
    """The question names the library file as built: a rebuild (another compiler, say)
    under the same name is a new question."""
    kernel = _kernel_or_skip()
    copy = tmp_path / Path(kernel._library._name).name
    shutil.copy(kernel._library._name, copy)
    first = _native.FusedAdam(ctypes.CDLL(str(copy)), kernel.vsqrt).identity
    assert _native.FusedAdam(ctypes.CDLL(str(copy)), kernel.vsqrt).identity == first
    os.utime(copy, ns=(0, 10**18))
    assert _native.FusedAdam(ctypes.CDLL(str(copy)), kernel.vsqrt).identity != first
    assert _native.FusedAdam(ctypes.CDLL(str(copy)), None).identity.endswith("sqrtf")


def test_a_kernel_check_is_not_remembered_when_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel = _kernel_or_skip()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _facts.machine_facts.cache_clear()
    agrees, calls = _counting(True)
    _native.checked(kernel, agrees, [], "Test")
    _native.checked(kernel, agrees, [], "Test")
    assert calls == [2]
    assert not list(tmp_path.rglob("facts-*"))


def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's answers as a new process starts with them: none, nothing read yet."""
    monkeypatch.setattr(_exact, "_CHOSEN", {})
    monkeypatch.setattr(_exact, "_UNSAVED", set())
    monkeypatch.setattr(_exact, "_FROM_DISK", [])
    _facts.machine_facts.cache_clear()


def test_only_the_cpu_answers_found_here_are_kept(
    kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What this process's probes found is kept; what it learnt from other processes (a
    pool's, or a Ray cluster's, whose nodes may be other machines) and a GPU's answers are
    not; a new process reads the kept answers back as the probe's keys."""
    _fresh_process(monkeypatch)
    g = torch.randn(3, 16, 5)
    found = choose(
        ("test_sum", 3, 16, "cpu"),
        [
            Candidate("stacked", lambda t, o: partial(torch.sum, t[0], 1, out=o)),
            per_model(lambda t, o: partial(torch.sum, t[0], 0, out=o)),
        ],
        lambda t: t[0].sum(0),
        [Operand(g)],  # (the stacked form first: probed)
        torch.empty(3, 5),
    )
    learn_choices({("from_another_process", "cpu"): "stacked"})
    learn_choices({("refused_here", "cpu"): "per_batch"}, found_here=True)
    learn_choices({("on_a_gpu", "cuda:0"): "stacked"}, found_here=True)
    save_choices()
    [path] = list(kept.glob("facts-*.json"))
    assert json.loads(path.read_text())["exact"] == {
        "('test_sum', 3, 16, 'cpu')": found.name,
        "('refused_here', 'cpu')": "per_batch",
    }
    _fresh_process(monkeypatch)
    assert known_choices() == {
        ("test_sum", 3, 16, "cpu"): found.name,
        ("refused_here", "cpu"): "per_batch",
    }


SCRIPT = textwrap.dedent(
    """
    import json, sys
    from optiscope.engine import _exact
    from optiscope.records import RunConfig
    from optiscope.sweeps import run_configs

    probes = [0]
    agrees = _exact._Probe.agrees
    def counted(self, candidate):
        probes[0] += 1
        return agrees(self, candidate)
    _exact._Probe.agrees = counted
    configs = [
        RunConfig(epochs=2, hparams={"lr": lr, "weight_decay": 0.01})
        for lr in (1, 0.1, 0.01, 0.001)
    ]
    records = run_configs(configs, engine=sys.argv[1])
    print(json.dumps({
        "probes": probes[0],
        "curves": [r.curve.valid_loss + r.curve.train_loss for r in records],
    }))
    """
)


def _train(engine: str, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, engine],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_later_process_takes_the_answers_and_trains_to_the_same_bits(tmp_path: Path) -> None:
    """Four processes training the exercise's lr sweep for 2 epochs: the first probes and
    keeps its answers; the second probes only what depends on where its data set landed in
    memory (a data offset the first did not see) or nothing; one under another oneDNN setting
    starts afresh; every curve equals the reference engine's bit for bit."""
    on = {ENV: "on", "XDG_CACHE_HOME": str(tmp_path)}
    reference = _train("reference", {ENV: "off"})
    first = _train("vectorized", on)
    kept_files = list((tmp_path / "optiscope").glob("facts-*.json"))
    assert len(kept_files) == 1
    kept_answers = json.loads(kept_files[0].read_text())["exact"]
    assert first["probes"] > 10 and len(kept_answers) > 10
    later = [_train("vectorized", on) for _ in range(2)]
    assert min(run["probes"] for run in later) < first["probes"] / 3  # type: ignore[operator]
    elsewhere = _train("vectorized", {**on, "ONEDNN_MAX_CPU_ISA": "ALL"})  # (its default)
    assert elsewhere["probes"] >= first["probes"] / 2  # type: ignore[operator]
    assert len(list((tmp_path / "optiscope").glob("facts-*.json"))) == 2
    for run in (first, *later, elsewhere):
        assert run["curves"] == reference["curves"]


def test_a_probe_repays_over_several_runs_only_where_its_answer_is_kept(
    kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With answers kept, a probe is paid once per machine, so it may repay itself over
    :data:`~optiscope.engine._exact.RUNS_TO_REPAY` runs; off, or on a GPU (whose answers are
    not kept), over this run alone."""
    assert _exact.repaying_runs(torch.device("cpu")) == _exact.RUNS_TO_REPAY > 1
    assert _exact.repaying_runs(torch.device("cuda")) == 1  # (a device object needs no GPU)
    monkeypatch.setenv(ENV, "off")
    _facts.machine_facts.cache_clear()
    assert _exact.repaying_runs(torch.device("cpu")) == 1


@pytest.mark.parametrize("on", [True, False])
def test_the_lr_sweeps_output_bias_sum_is_probed_where_the_answer_is_kept(
    kept: Path, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    """The exercise's lr sweep: 4 configs, 1,290 steps of 16 rows. Its output layer's bias
    sum (one number per config) does not repay a probe in one run, so without kept answers
    the plain sums run unprobed; with them the probe asks the machine (and a stacked sum,
    1.6 against 5.7 us a step here, is taken where exact)."""
    if not on:
        monkeypatch.setenv(ENV, "off")
    _fresh_process(monkeypatch)
    buffer, layout = stack_mlps(4, (50, 50), "relu", list(range(4)))
    grads = torch.zeros_like(buffer)
    net = StackedMLP(
        layout,
        "relu",
        layout.views(buffer),
        layout.views(grads),
        16,
        data_offsets=[0],
        uses=1_290,
    )
    assert not OUTPUT_BIAS_PROBE.pays(4, 1_290)
    key = net._key("bias_grad", 2)
    assert (key in known_choices()) is on
