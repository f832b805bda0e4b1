"""Sweeps that last: SIGKILL and resume, readers during writes, damaged files, a full disk.

The sweeps run as real subprocesses of the ``optiscope`` command, killed with SIGKILL at
random moments (seeded, so a failure can be replayed), and are compared with an
uninterrupted run of the same configs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from optiscope.api import SweepResult
from optiscope.cli import main
from optiscope.errors import StorageError
from optiscope.records import RunRecord
from optiscope.storage import SqliteStore, diagnose
from optiscope.sweeps import SweepSpec, run_configs, run_sweep

SMALL = {"epochs": 3, "n": 200, "hidden": (8,)}
CLI = [sys.executable, "-c", "from optiscope.cli import main; main()"]


def _numbers(record: RunRecord) -> dict[str, object]:
    """A record without wall-clock times or the engine's name, NaN as None (so NaN compares
    equal): every engine gives the same numbers."""
    data = record.to_dict()
    del data["curve"]["seconds"], data["engine"]
    return data


def _done(store: Path, name: str) -> int:
    """Finished configs of a sweep, as a reader sees them (0 before the sweep is stored)."""
    try:
        with SqliteStore(store, create=False) as reader:
            return reader.sweep_info(name).finished
    except StorageError:
        return 0


def _snapshot(store: Path, name: str) -> dict[str, tuple[str, int, float | None]]:
    with SqliteStore(store, create=False) as reader:
        assert reader.check() == []  # sound pages, no half-written run
        return {r.key: (r.status, r.starts, r.finished) for r in reader.runs(name, curves=False)}


def _assert_whole(store: Path, name: str, epochs: int) -> None:
    """Every finished run has its whole curve; unfinished runs have none."""
    for run in SweepResult.load(name, store=store).runs:
        if run.status == "done":
            assert run.curve is not None and len(run.curve) == epochs
        else:
            assert run.status in ("pending", "running") and run.curve is None


@pytest.mark.slow
def test_sigkill_three_times_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    spec = SweepSpec(
        grid={"lr": [0.1, 0.03, 0.01, 0.003], "weight_decay": [0.0, 0.01, 0.1]},
        fixed={**SMALL, "n": 300},
        seeds=3,
        name="killed",
    )
    total = spec.size
    spec_file = spec.save(tmp_path / "spec.toml")
    store = tmp_path / "results.sqlite"
    # The reference engine finishes configs one by one, so there are moments to kill between
    # them (the vectorized default finishes a lockstep group at once; numbers are the same).
    command = [*CLI, "sweep", "--config", str(spec_file), "--store", str(store), "-q"]
    command += ["--engine", "reference"]
    rng = random.Random(20240605)  # seeded: a failing moment can be replayed
    finished_before: dict[str, tuple[str, int, float | None]] = {}
    for kill in range(3):
        done = _done(store, "killed")
        target = rng.randint(done + 1, done + 4)  # kill after 1-4 more configs finish
        assert target < total
        proc = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while _done(store, "killed") < target:
                assert proc.poll() is None, f"sweep ended before kill {kill + 1}: {proc.stderr}"
                assert time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.03))  # somewhere inside the next config or commit
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        snapshot = _snapshot(store, "killed")
        _assert_whole(store, "killed", SMALL["epochs"])
        for key, state in finished_before.items():
            assert snapshot[key] == state, "a finished config was trained again"
        finished_before = {k: s for k, s in snapshot.items() if s[0] == "done"}
        assert len(finished_before) >= target
    resumed = subprocess.run(
        [*CLI, "resume", "killed", "--store", str(store), "-q", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    final = _snapshot(store, "killed")
    assert all(state[0] == "done" for state in final.values())
    for key, state in finished_before.items():
        assert final[key] == state, "a finished config was trained again"
    assert all(1 <= starts <= 4 for _, starts, _ in final.values())
    result = SweepResult.load("killed", store=store)
    uninterrupted = run_configs([p.config for p in spec.expand()])
    assert [_numbers(r) for r in result.records] == [_numbers(r) for r in uninterrupted]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_give_unfinished_configs_back(signum: int, tmp_path: Path) -> None:
    spec = SweepSpec(grid={"lr": [0.1, 0.03, 0.01]}, fixed=SMALL, seeds=4, name="stop")
    spec_file = spec.save(tmp_path / "spec.toml")
    store = tmp_path / "results.sqlite"
    command = [*CLI, "sweep", "--config", str(spec_file), "--store", str(store), "-q"]
    command += ["--engine", "reference"]  # one config at a time: a moment between configs
    proc = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _done(store, "stop") == 0:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)  # hold it mid-sweep, whatever the machine's load
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "optiscope: interrupted:" in err and f"optiscope resume stop --store {store}" in err
    snapshot = _snapshot(store, "stop")
    assert {state for state, _, _ in snapshot.values()} == {"done", "pending"}
    resumed = subprocess.run(
        [*CLI, "resume", "stop", "--store", str(store), "-q"], cwd=tmp_path, capture_output=True
    )
    assert resumed.returncode == 0
    final = _snapshot(store, "stop")
    assert all(state == "done" for state, _, _ in final.values())
    for key, state in snapshot.items():
        if state[0] == "done":
            assert final[key] == state


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pool_sweep(tmp_path: Path, name: str, busy: float) -> tuple[subprocess.Popen[str], Path]:
    """A sweep on three processes whose tasks last minutes, in its own process group (as a
    terminal runs a command), once each worker has used ``busy`` CPU seconds (importing
    torch takes about 1.5 s)."""
    fixed = {**SMALL, "epochs": 2000, "n": 1000, "hidden": (50, 50)}
    spec = SweepSpec(grid={"lr": [0.1, 0.03, 0.01, 0.003]}, fixed=fixed, seeds=3, name=name)
    spec_file = spec.save(tmp_path / "spec.toml")
    store = tmp_path / "results.sqlite"
    command = [*CLI, "sweep", "--config", str(spec_file), "--store", str(store), "-q"]
    command += ["--engine", "reference", "--workers", "3"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2 or min(map(_cpu_seconds, _children(proc.pid))) < busy:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, store


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_ctrl_c_in_a_terminal_stops_the_pool_without_tracebacks(tmp_path: Path) -> None:
    proc, store = _pool_sweep(tmp_path, "group", busy=0.5)  # importing or training
    workers = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "optiscope: interrupted:" in err
    assert not [pid for pid in workers if _alive(pid)]
    assert {state for state, _, _ in _snapshot(store, "group").values()} <= {"done", "pending"}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_pool_workers_end_with_a_killed_sweep(tmp_path: Path) -> None:
    proc, _ = _pool_sweep(tmp_path, "orphans", busy=2.5)  # past the imports: training
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 3  # a task of this sweep lasts far longer than that
    while [pid for pid in workers if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in workers if _alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "pool workers outlived the sweep that started them"


@pytest.mark.slow
def test_readers_never_fail_while_a_sweep_writes(tmp_path: Path) -> None:
    spec = SweepSpec(grid={"lr": [0.1, 0.03, 0.01, 0.003, 0.001]}, fixed=SMALL, seeds=3, name="w")
    spec_file = spec.save(tmp_path / "spec.toml")
    store = tmp_path / "results.sqlite"
    writer = subprocess.Popen(
        [*CLI, "sweep", "--config", str(spec_file), "--store", str(store), "-q"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _done(store, "w") == 0 and writer.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    failures: list[BaseException] = []
    reads = [0] * 4
    seen: list[list[int]] = [[] for _ in reads]

    def read(index: int) -> None:
        while writer.poll() is None:
            try:
                result = SweepResult.load("w", store=store)
                frame = result.frame
                assert len(frame) == SMALL["epochs"] * len(result.records)
                seen[index].append(len(result.records))
                reads[index] += 1
            except BaseException as err:  # any failure of a reader is the finding
                failures.append(err)
                return

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(reads))]
    for thread in threads:
        thread.start()
    _, err = writer.communicate(timeout=300)
    for thread in threads:
        thread.join(timeout=60)
    assert writer.returncode == 0, err
    assert failures == []
    assert all(count > 0 for count in reads), reads
    for counts in seen:
        assert counts == sorted(counts)  # each reader sees progress, never a step back
    assert SweepResult.load("w", store=store).complete


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_file_that_is_not_a_store_gives_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "results.sqlite"
    store.write_bytes(random.Random(1).randbytes(16384))
    for args in (["runs", "list"], ["runs", "show", "x"], ["sweep", "--lr", "0.1", "-q"]):
        code, _, err = _run_cli([*args, "--store", str(store)], capsys)
        assert code == 1
        assert err.count("\n") == 1 and "Traceback" not in err
        assert str(store) in err and f"optiscope doctor --store {store}" in err
    code, out, _ = _run_cli(["doctor", "--store", str(store)], capsys)
    assert code == 1
    assert "error: " in out and "not an sqlite database" in out
    assert f"mv {store} {store}.damaged" in out


def test_damaged_pages_are_found_and_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "results.sqlite"
    spec = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed={**SMALL, "epochs": 30}, seeds=3, name="d")
    run_sweep(spec, store=store)
    data = bytearray(store.read_bytes())
    page = 4096
    assert len(data) >= 4 * page
    # Keep page 1 (the header and the table list); scribble over every later page.
    scribble = random.Random(2).randbytes(len(data) - page)
    data[page:] = scribble
    store.write_bytes(bytes(data))
    code, _, err = _run_cli(["runs", "show", "d", "--store", str(store)], capsys)
    assert code == 1 and "Traceback" not in err
    assert str(store) in err and "optiscope doctor" in err
    report = diagnose(store)
    assert not report.healthy
    assert "sqlite3" in report.findings[0].advice and ".recover" in report.findings[0].advice


@contextlib.contextmanager
def _small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "a full disk needs a small tmpfs, and mounting one needs root with mount rights "
            f"(CAP_SYS_ADMIN); here: {mounted.stderr.strip() or mounted.returncode}"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system until ``leave`` bytes are free."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with filler.open("wb") as file:
        try:
            file.write(b"\0" * max(free - leave, 0))
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
    return filler


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs mounts are Linux-only")
def test_a_full_disk_gives_a_clear_message_and_keeps_what_finished(tmp_path: Path) -> None:
    with _small_disk(tmp_path / "small", "4m") as disk:
        store = disk / "results.sqlite"
        first = SweepSpec(grid={"lr": [0.1, 0.01]}, fixed=SMALL, name="first")
        run_sweep(first, store=store)
        filler = _fill(disk, leave=150 * 1024)
        big = SweepSpec(
            grid={"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001]},
            fixed={**SMALL, "epochs": 30},
            seeds=6,
            name="big",
        )
        with pytest.raises(
            StorageError, match=rf"the disk holding the results store {store} is full"
        ) as caught:
            run_sweep(big, store=store)
        assert f"`optiscope resume big --store {store}`" in str(caught.value)
        # Readable while the disk is still full, with what finished kept.
        with SqliteStore(store, create=False) as reader:
            assert reader.check() == []
        assert SweepResult.load("first", store=store).counts["done"] == 2
        kept = SweepResult.load("big", store=store)
        finished = {r.key for r in kept.runs if r.status == "done"}
        assert finished, "the store should hold the configs finished before the disk filled"
        _assert_whole(store, "big", 30)
        filler.unlink()
        run = run_sweep(big, store=store)
        assert run.skipped == len(finished) and run.trained == big.size - len(finished)
        assert SweepResult.load("big", store=store).complete


def test_full_disk_errors_from_sqlite_read_as_such() -> None:
    import sqlite3

    from optiscope.storage._errors import storage_error

    err = sqlite3.OperationalError("database or disk is full")
    message = str(storage_error("r.sqlite", "saving run k", err))
    assert message.startswith("the disk holding the results store r.sqlite is full")
    assert "keeps every config finished so far" in message
    full = OSError(errno.ENOSPC, "No space left on device")
    assert "is full" in str(storage_error("r.sqlite", "opening it", full))
