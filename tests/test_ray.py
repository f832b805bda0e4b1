"""The Ray backend on a real Ray: same numbers as in-process, few tasks, faults survived.

A Ray of the test module's own (``address="local"``, 2 CPUs, session files and auth token
in a temporary folder) for the quick tests; the slow ones start a sweep on the command line
and kill its driver, or start a head and a second node with ``ray start`` and kill the
second node's busy worker mid-task. Every process a test starts is stopped by PID
(``tests/ray_nodes.py``). The backend contract itself runs in ``tests/test_backends.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cli_run import run as run_cli
from optiscope.cli._advice import advice
from optiscope.errors import MissingExtraError, TasksFailedError, TrainingFailedError
from optiscope.records import Curve, DataSpec, RunConfig, RunRecord
from optiscope.storage import SqliteStore
from optiscope.sweeps import (
    InProcessBackend,
    RayBackend,
    SweepSpec,
    Task,
    make_backend,
    plan_tasks,
    run_configs,
    run_sweep,
    stop_ray,
)
from optiscope.sweeps._groups import MAX_CHUNK
from ray_nodes import descendants, ray_home, stop_processes, two_nodes

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
pytest.importorskip("psutil", reason="the ray extra is not installed (psutil)")

CLI = [sys.executable, "-c", "from optiscope.cli import main; main()"]
SMALL = {"epochs": 3, "n": 200, "hidden": (8,)}


@pytest.fixture(scope="module")
def session() -> Iterator[Path]:
    """A temporary HOME and Ray session folder for the module; Ray is stopped at the end and
    every process it started here must be gone."""
    with pytest.MonkeyPatch.context() as patch, ray_home(patch) as folder:
        before = {p.pid for p in descendants(os.getpid())}
        try:
            yield folder
        finally:
            started = [p for p in descendants(os.getpid()) if p.pid not in before]
            stop_ray()
            _gone(started)


def _gone(processes: list[Any], timeout: float = 20.0, *, strict: bool = True) -> list[str]:
    """Ray's own processes of a stopped Ray end by themselves; any left after ``timeout``
    is killed by PID, so that the test leaves nothing behind, and (``strict``) fails the
    test. A zombie (dead, not yet reaped) is gone; one that became this process's child (see
    :func:`_subreaper`) is reaped here, as init would. Returns what was left."""
    import psutil

    deadline = time.monotonic() + timeout
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        for process in alive:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(process.pid, os.WNOHANG)
        alive = [p for p in alive if _running(p)]
        time.sleep(0.1)
    names = []
    for process in alive:
        with contextlib.suppress(psutil.Error):
            names.append(f"{process.pid} {' '.join(process.cmdline())[:80].strip()}")
    stop_processes(alive)
    assert not (strict and alive), f"Ray left processes running: {names}"
    return names


def _running(process: Any) -> bool:
    import psutil

    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def _subreaper() -> Iterator[None]:
    """Orphans of a killed child become this process's children (Linux
    ``PR_SET_CHILD_SUBREAPER``), so they are reaped even where PID 1 reaps nothing (some
    containers): a killed driver's raylet must not linger as a zombie that its agents
    mistake for a live parent."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)


@pytest.fixture
def backend(session: Path) -> RayBackend:
    return RayBackend(cpus=2, temp_dir=session / "local")


def _curves(records: Sequence[RunRecord]) -> list[tuple[Any, ...]]:
    """What must not depend on the backend; repr makes NaN equal to NaN."""
    return [
        (r.config.key(), r.status, repr(r.curve.valid_loss), repr(r.curve.train_loss))
        for r in records
    ]


def _stored(path: Path, name: str) -> dict[str, Any]:
    with SqliteStore(path, create=False) as store:
        return {r.key: r for r in store.runs(name)}


def _config(lr: float = 0.01, **fields: Any) -> RunConfig:
    hparams = {"lr": lr, "betas": (0.9, 0.999), "weight_decay": 0.01}
    small = {"epochs": 3, "hidden": (8,), "data": DataSpec(n=200)}
    return RunConfig(hparams=hparams, **{**small, **fields})


# -- on a local Ray -------------------------------------------------------------------------


def test_a_sweep_on_ray_stores_the_in_process_curves_bit_for_bit(
    backend: RayBackend, tmp_path: Path
) -> None:
    spec = SweepSpec(
        grid={"lr": [0.1, 0.01, 0.001], "batch_size": [8, 32]}, fixed=SMALL, seeds=2, name="s"
    )
    on_ray = run_sweep(spec, store=tmp_path / "ray.sqlite", backend=backend)
    here = run_sweep(spec, store=tmp_path / "here.sqlite", backend=InProcessBackend())
    assert on_ray.trained == here.trained == spec.size
    ray_runs, here_runs = (
        _stored(tmp_path / "ray.sqlite", "s"),
        _stored(tmp_path / "here.sqlite", "s"),
    )
    assert ray_runs.keys() == here_runs.keys()
    for key, run in ray_runs.items():
        assert run.status == "done" and run.starts == 1
        assert run.curve.valid_loss == here_runs[key].curve.valid_loss  # max difference 0.0
        assert run.curve.train_loss == here_runs[key].curve.train_loss


def test_a_task_is_a_group_and_the_data_set_goes_into_the_object_store_once(
    backend: RayBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [_config(lr=0.001 * (i + 1), seed=s) for i in range(20) for s in range(2)]
    tasks = plan_tasks(configs, engine="vectorized", workers=backend.workers)
    assert 2 <= len(tasks) < len(configs) / 8 and all(t.engine == "vectorized" for t in tasks)
    puts: list[Any] = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value: puts.append(value) or real_put(value))
    started: list[Task] = []
    done: dict[int, list[RunRecord]] = {}
    backend.run(
        tasks,
        data=None,
        device="cpu",
        on_done=lambda task, records: done.setdefault(id(task), records),
        on_start=started.append,
    )
    assert len(started) == len(done) == len(tasks)  # one Ray task per group, each reported once
    assert len(puts) == 1  # one data set for every task
    expected = run_configs(configs, backend=InProcessBackend())
    by_key = {r.config.key(): r for records in done.values() for r in records}
    assert _curves([by_key[c.key()] for c in configs]) == _curves(expected)


def test_a_4096_config_sweep_makes_dozens_of_tasks_not_thousands(backend: RayBackend) -> None:
    grid = SweepSpec(grid={"lr": [0.0001 * (i + 1) for i in range(64)]}, seeds=64)
    configs = [p.config for p in grid.expand()]
    assert len(configs) == 4096
    tasks = plan_tasks(configs, engine="vectorized", workers=backend.workers)
    assert len(tasks) == 4096 // MAX_CHUNK  # 64 groups of 64 configs (one batch size)
    assert all(len(t.configs) == MAX_CHUNK for t in tasks)


def test_a_task_that_raises_reports_its_configs_as_errors_and_the_rest_finish(
    backend: RayBackend,
) -> None:
    broken = Task(  # two configs with no common lockstep key: the engine refuses the task
        engine="vectorized",
        configs=(_config(batch_size=16), _config(batch_size=8)),
        indices=((0,), (1,)),
        cost=1.0,
    )
    good = plan_tasks([_config(lr=0.1), _config(lr=0.01)], engine="vectorized")
    reported: dict[int, list[RunRecord]] = {}
    with pytest.raises(TasksFailedError, match="lockstep") as raised:
        backend.run(
            [broken, *good],
            data=None,
            device="cpu",
            on_done=lambda task, records: reported.setdefault(id(task), records),
        )
    assert (raised.value.configs, raised.value.tasks) == (2, 1)
    assert [r.status for r in reported[id(broken)]] == ["error", "error"]
    assert all("lockstep" in (r.error or "") for r in reported[id(broken)])
    assert all(r.status == "done" for t in good for r in reported[id(t)])


def test_ctrl_c_cancels_the_tasks_and_shuts_down_the_ray_it_started(
    session: Path, tmp_path: Path
) -> None:
    stop_ray()  # a Ray of this test's own, so that its processes can be told apart
    before = {p.pid for p in descendants(os.getpid())}
    backend = RayBackend(cpus=2, temp_dir=session / "interrupted")
    backend.connect()
    started = [p for p in descendants(os.getpid()) if p.pid not in before]
    assert started, "a local Ray runs processes under this one"
    tasks = plan_tasks(
        [_config(batch_size=b, epochs=200) for b in (8, 12, 16)], engine="vectorized"
    )
    submitted: list[Task] = []

    def interrupt(task: Task) -> None:
        submitted.append(task)
        if len(submitted) == len(tasks):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend.run(tasks, data=None, device="cpu", on_done=lambda *_: None, on_start=interrupt)
    assert not ray.is_initialized()
    _gone(started + [p for p in descendants(os.getpid()) if p.pid not in before])


# -- the sweep runner with failed tasks (a stand-in backend: no Ray needed) ------------------


class _FailsOneTask:
    """Trains every task in this process, except that the first one 'raises' as a Ray task
    that raised is reported: its configs as ``error`` records, then TasksFailedError."""

    name = "fails-one"

    def run(self, tasks: Sequence[Task], *, data: Any, device: str, on_done: Any, **_: Any) -> None:
        first, *rest = tasks
        on_done(
            first, [RunRecord(c, Curve(), "error", error="ValueError: boom") for c in first.configs]
        )
        InProcessBackend().run(rest, data=data, device=device, on_done=on_done)
        raise TasksFailedError(len(first.configs), 1, ("ValueError: boom",))


def test_failed_configs_are_stored_as_errors_and_a_resume_trains_them(tmp_path: Path) -> None:
    spec = SweepSpec(grid={"batch_size": [8, 16, 32]}, fixed=SMALL, name="f")
    store = tmp_path / "r.sqlite"
    with pytest.raises(TrainingFailedError, match="boom") as raised:
        run_sweep(spec, store=store, backend=_FailsOneTask())
    assert raised.value.finished == 2
    runs = _stored(store, "f")
    assert sorted(r.status for r in runs.values()) == ["done", "done", "error"]
    [failed] = [r for r in runs.values() if r.status == "error"]
    assert failed.error == "ValueError: boom"
    again = run_sweep(spec, store=store, backend=InProcessBackend())
    assert (again.skipped, again.trained) == (2, 1)
    assert {r.status for r in _stored(store, "f").values()} == {"done"}


# -- choosing the backend -------------------------------------------------------------------


def test_backend_names_and_addresses_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert make_backend(None) is None and make_backend("local") is None
    assert isinstance(make_backend("ray"), RayBackend)
    assert make_backend("ray", address="10.0.0.1:6379").address == "10.0.0.1:6379"  # type: ignore[union-attr]
    code, _, err = run_cli(["sweep", "--lr", "0.1", "--backend", "spark", "--dry-run"], capsys)
    assert code == 2 and "unknown backend 'spark'; choose one of: local, ray" in err
    code, _, err = run_cli(["sweep", "--lr", "0.1", "--address", "auto", "--dry-run"], capsys)
    assert code == 2 and "needs backend='ray'" in err


def test_ray_address_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6390")
    assert RayBackend().address == "127.0.0.1:6390"
    assert RayBackend("auto").address == "auto"
    monkeypatch.delenv("RAY_ADDRESS")
    assert RayBackend().address is None  # a Ray started here (address="local")


def test_a_missing_ray_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(MissingExtraError) as raised:
        RayBackend()
    assert raised.value.extra == "ray"
    assert advice(raised.value) == "install it with `pip install 'optiscope[ray]'`"
    code, _, err = run_cli(["sweep", "--lr", "0.1", "--backend", "ray", "--dry-run"], capsys)
    assert code == 1 and "pip install 'optiscope[ray]'" in err and "Traceback" not in err


# -- faults: a killed driver, a killed worker on a second node ------------------------------


def _finished(store: Path, name: str) -> int:
    if not store.exists():
        return 0
    try:
        with SqliteStore(store, create=False) as reader:
            return reader.sweep_info(name).finished
    except Exception:  # not registered yet
        return 0


@pytest.mark.slow  # a Ray per command: about 20 s
def test_a_killed_driver_resumes_from_the_store_with_ray(session: Path, tmp_path: Path) -> None:
    spec = SweepSpec(
        grid={"lr": [0.1, 0.03, 0.01, 0.003], "weight_decay": [0.0, 0.1]},
        fixed={"epochs": 20, "n": 1000, "hidden": (16, 16)},
        seeds=2,
        name="driver",
    )
    spec_file = spec.save(tmp_path / "spec.toml")
    store = tmp_path / "r.sqlite"
    env = {**os.environ, "RAY_TMPDIR": str(session / "cli")}
    common = ["--store", str(store), "-q", "--backend", "ray", "--out", str(tmp_path / "f.png")]
    # The reference engine makes one task per config: configs finish one by one.
    command = [*CLI, "sweep", "--config", str(spec_file), "--engine", "reference", *common]
    with _subreaper():
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        below: list[Any] = []
        try:
            deadline = time.monotonic() + 180
            while _finished(store, "driver") < 3:
                below = descendants(proc.pid) or below
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.01)
            below = descendants(proc.pid)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        # A SIGKILLed driver cannot stop its Ray: the raylet and GCS go with it (fate
        # sharing), but a worker busy with a task and Ray's agents may outlive it for a while
        # (seen: over 20 s here). They write nothing (only the driver writes the store);
        # the test stops them by PID.
        left = _gone(below, strict=False)
        assert not any("raylet" in n or "gcs_server" in n for n in left), left
    before = {k: r for k, r in _stored(store, "driver").items() if r.status == "done"}
    assert 3 <= len(before) < spec.size
    resumed = subprocess.run(
        [*CLI, "resume", "driver", *common],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    after = _stored(store, "driver")
    assert {r.status for r in after.values()} == {"done"}
    for key, run in before.items():
        assert (after[key].starts, after[key].finished) == (1, run.finished)  # not retrained
    expected = run_configs([p.config for p in spec.expand()], workers=1)
    assert _curves([after[r.config.key()] for r in expected]) == _curves(expected)


@pytest.mark.slow  # a two-node cluster and a retried task: about 40 s
def test_two_nodes_survive_a_killed_worker_and_store_every_config_once(
    session: Path, tmp_path: Path
) -> None:
    stop_ray()
    spec = SweepSpec(
        grid={"batch_size": [8, 12, 16, 24], "lr": [0.01, 0.001]},
        fixed={"epochs": 60, "n": 1000},
        seeds=2,
        name="nodes",
    )
    store = tmp_path / "r.sqlite"
    with two_nodes(session / "cluster") as (address, nodes):
        backend = RayBackend(address)
        deadline = time.monotonic() + 60
        while backend.workers < 2:  # the second node has joined
            assert time.monotonic() < deadline
            time.sleep(0.2)
        killed: list[int] = []
        outcome: list[Any] = []

        def sweep() -> None:
            try:
                outcome.append(run_sweep(spec, store=store, backend=backend))
            except BaseException as err:
                outcome.append(err)

        import threading

        runner = threading.Thread(target=sweep)
        runner.start()
        try:
            while not killed and runner.is_alive():
                busy = nodes[1].busy_workers()
                if busy:  # mid-task on the second node: kill that worker by its PID
                    killed += [p.pid for p in busy]
                    stop_processes(busy)
                time.sleep(0.05)
        finally:
            runner.join(timeout=600)
            stop_ray()
    assert killed, "the second node never ran a task"
    [run] = outcome
    assert not isinstance(run, BaseException), run
    stored = _stored(store, "nodes")
    assert len(stored) == spec.size == run.trained
    assert all(r.status == "done" and r.starts == 1 for r in stored.values())
    expected = run_configs([p.config for p in spec.expand()], workers=1)
    assert _curves([stored[r.config.key()] for r in expected]) == _curves(expected)
