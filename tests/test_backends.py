"""Planning and backends: one contract for every backend, and run_configs' routing.

The contract (optuna-style, one suite per implementation): a backend trains every task,
reports each through ``on_done`` in the calling thread, and gives the records a plain
in-process run gives, number for number.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from optiscope.data import make_dataset
from optiscope.engine import train_reference
from optiscope.errors import ConfigError, OptiscopeError
from optiscope.optim import OPTIMIZERS, HParamSpec, OptimizerInfo
from optiscope.records import RunConfig, RunRecord
from optiscope.sweeps import run_configs
from optiscope.sweeps._backends import (
    Backend,
    InProcessBackend,
    ProcessPoolBackend,
    choose_backend,
    run_task,
)
from optiscope.sweeps._groups import MAX_CHUNK, Task, makespan, plan_tasks
from optiscope.sweeps._pool import pool_is_warm, start_pool, stop_pool

DATA = make_dataset()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def _pool_down_after() -> Iterator[None]:
    yield
    stop_pool()


def _config(**fields: Any) -> RunConfig:
    hparams = {"lr": fields.pop("lr", 0.01), "betas": (0.9, 0.999), "weight_decay": 0.01}
    return RunConfig(hparams=fields.pop("hparams", hparams), **{"epochs": 1, **fields})


MIXED = [
    _config(batch_size=2, lr=0.1),
    _config(batch_size=16, lr=0.1),
    _config(batch_size=64),
    _config(batch_size=16, lr=0.001),
    _config(optimizer="sgd", hparams={"lr": 0.001, "momentum": 0.9}, batch_size=16),
    _config(batch_size=16, lr=0.1),  # a duplicate of the second
]


def _numbers(records: list[RunRecord]) -> list[tuple[Any, ...]]:
    """What must not depend on the backend; repr makes NaN equal to NaN."""
    return [
        (r.status, repr(r.curve.valid_loss), repr(r.curve.train_loss), r.curve.step)
        for r in records
    ]


# -- planning -------------------------------------------------------------------------------


def test_plan_groups_what_trains_in_lockstep_and_deduplicates() -> None:
    tasks = plan_tasks(MIXED, engine="vectorized")
    by_batch = {(t.configs[0].batch_size, t.configs[0].optimizer): len(t.configs) for t in tasks}
    assert by_batch == {(2, "adamw"): 1, (16, "adamw"): 2, (64, "adamw"): 1, (16, "sgd"): 1}
    assert sorted(i for t in tasks for group in t.indices for i in group) == list(range(6))
    [shared] = [t for t in tasks if any(len(group) == 2 for group in t.indices)]
    assert (1, 5) in shared.indices
    assert [t.cost for t in tasks] == sorted((t.cost for t in tasks), reverse=True)


def test_plan_balances_by_step_count() -> None:
    """Batch size 2 has 8x the steps of batch size 16: it is the costliest task."""
    tasks = plan_tasks([_config(batch_size=b) for b in (16, 2, 64)], engine="vectorized")
    assert [t.configs[0].batch_size for t in tasks] == [2, 16, 64]
    assert tasks[0].cost > 4 * tasks[1].cost


def test_big_groups_are_chunked_and_split_for_idle_workers() -> None:
    grid = [_config(lr=0.001 * (i + 1)) for i in range(MAX_CHUNK + 6)]
    assert [len(t.configs) for t in plan_tasks(grid, engine="vectorized")] == [MAX_CHUNK, 6]
    split = plan_tasks(grid[:32], engine="vectorized", workers=2)
    assert sorted(len(t.configs) for t in split) == [16, 16]


def test_reference_engine_plans_one_task_per_config() -> None:
    tasks = plan_tasks(MIXED, engine="reference")
    assert len(tasks) == 5 and all(t.engine == "reference" for t in tasks)


def test_makespan_is_greedy_largest_first() -> None:
    assert makespan([3.0, 2.0, 2.0, 1.0], 2) == 4.0
    assert makespan([5.0, 1.0], 4) == 5.0


def test_choose_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    import optiscope.sweeps._backends as backends

    small = plan_tasks([_config(lr=v) for v in (0.1, 0.01)], engine="vectorized")
    # four tasks of ~1.5 s (batch size 2, 30 epochs): two workers win despite starting up
    big = plan_tasks(
        [_config(batch_size=2, epochs=e) for e in (30, 31, 32, 33)], engine="vectorized"
    )
    monkeypatch.setattr(backends, "available_cpus", lambda: 2)
    assert choose_backend(small, workers=None, device="cpu").name == "in-process"
    assert choose_backend(big, workers=None, device="cpu").name == "process-pool"
    assert choose_backend(big, workers=None, device="cuda").name == "in-process"
    assert choose_backend(big, workers=1, device="cpu").name == "in-process"
    assert choose_backend(small, workers=3, device="cpu").name == "process-pool"
    monkeypatch.setattr(backends, "available_cpus", lambda: 1)
    assert choose_backend(big, workers=None, device="cpu").name == "in-process"


# -- the backend contract -------------------------------------------------------------------


def _ray_backend() -> Backend:
    """A Ray started here, 2 CPUs, its files in a temporary folder (see ``_ray_session``)."""
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
    from optiscope.sweeps import RayBackend

    return RayBackend(cpus=2, temp_dir=_RAY_SESSION[0] / "contract")


def _pool_backend(method: str) -> Backend:
    """Two processes, the worker started by ``method`` (forked, or a fresh python)."""
    start_pool(2, method=method)
    return ProcessPoolBackend(2)


BACKENDS = [
    pytest.param(InProcessBackend, id="in-process"),
    pytest.param(lambda: _pool_backend("fork"), id="process-pool-fork"),
    pytest.param(lambda: _pool_backend("spawn"), id="process-pool-spawn"),
    pytest.param(_ray_backend, id="ray"),
]
_RAY_SESSION: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _ray_session() -> Iterator[None]:
    """Ray's auth token and session files go to a temporary folder, not HOME; the Ray the
    contract tests start is stopped at the end."""
    from ray_nodes import ray_home

    with pytest.MonkeyPatch.context() as patch, ray_home(patch) as folder:
        _RAY_SESSION[:] = [folder]
        try:
            yield
        finally:
            from optiscope.sweeps import stop_ray

            stop_ray()


@pytest.mark.parametrize("make", BACKENDS)
def test_backend_is_a_backend(make: Any) -> None:
    assert isinstance(make(), Backend)


@pytest.mark.parametrize("make", BACKENDS)
def test_backend_trains_every_task_and_reports_in_this_thread(make: Any) -> None:
    backend = make()
    tasks = plan_tasks(MIXED, engine="vectorized", workers=2)
    reported: list[tuple[Task, list[RunRecord], int]] = []
    started: list[tuple[Task, int]] = []

    def on_done(task: Task, records: list[RunRecord]) -> None:
        assert any(t is task for t, _ in started), "a task must start before it is done"
        reported.append((task, records, threading.get_ident()))

    backend.run(
        tasks,
        data=None,
        device="cpu",
        on_done=on_done,
        on_start=lambda task: started.append((task, threading.get_ident())),
    )
    assert sorted(id(t) for t, _, _ in reported) == sorted(id(t) for t in tasks)
    assert sorted(id(t) for t, _ in started) == sorted(id(t) for t in tasks)
    assert {ident for _, _, ident in reported} == {threading.get_ident()}
    assert {ident for _, ident in started} == {threading.get_ident()}
    for task, records, _ in reported:
        assert [r.config for r in records] == list(task.configs)
        assert _numbers(records) == _numbers(run_task(task, None, "cpu"))


@pytest.mark.parametrize("make", BACKENDS)
def test_backend_gives_the_plain_loops_numbers(make: Any) -> None:
    records = run_configs(MIXED, backend=make())
    expected = [train_reference(c, DATA) for c in MIXED]
    assert _numbers(records) == _numbers(expected)
    assert [r.engine for r in records] == ["vectorized"] * 4 + ["vectorized", "vectorized"]


@pytest.mark.parametrize("make", BACKENDS)
def test_backend_reports_a_failing_task(make: Any) -> None:
    broken = Task(
        engine="vectorized",
        configs=(_config(batch_size=16), _config(batch_size=8)),  # no common lockstep key
        indices=((0,), (1,)),
        cost=1.0,
    )
    with pytest.raises(OptiscopeError, match="lockstep"):
        make().run([broken], data=None, device="cpu", on_done=lambda *_: None)


def test_the_pool_stays_warm_between_calls() -> None:
    start_pool(2)
    assert pool_is_warm(2)
    import optiscope.sweeps._pool as pool_module

    assert pool_module._POOL is not None
    pids = [p.pid for p in pool_module._POOL.processes]
    run_configs(MIXED[:3], workers=2)
    assert [p.pid for p in pool_module._POOL.processes] == pids


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_a_pool_started_from_a_thread_that_ends_stays_up() -> None:
    stop_pool()
    starter = threading.Thread(target=start_pool, args=(2,))  # a web server's request thread
    starter.start()
    starter.join()
    time.sleep(0.5)  # time for a worker tied to the thread (PR_SET_PDEATHSIG) to be killed
    try:
        assert pool_is_warm(2)
        import optiscope.sweeps._pool as pool_module

        assert pool_module._POOL is not None
        assert pool_module._POOL.method == "spawn", "never forked while another thread runs"
        backend = ProcessPoolBackend(2)
        assert _numbers(run_configs(MIXED, backend=backend)) == _numbers(
            [train_reference(c, DATA) for c in MIXED]
        )
    finally:
        stop_pool()


def test_workers_and_the_parent_share_what_the_exactness_probe_found() -> None:
    """A kernel checked in one process is not probed again in another: the parent learns a
    worker's answers with its records, and hands everything it knows to the next task."""
    import optiscope.engine._exact as exact
    import optiscope.sweeps._pool as pool_module

    start_pool(2)
    pool = pool_module._POOL
    assert pool is not None and pool.warm
    before = exact.known_choices()
    exact._CHOSEN.clear()
    try:
        configs = [_config(batch_size=24, seed=s) for s in (1, 2)]  # one group, K = 2
        pool.run(plan_tasks(configs, engine="vectorized"), DATA, "cpu", lambda *_: None)
        learned = exact.known_choices()  # (the worker may know other shapes too)
        keys = [k for k in learned if k[0] == "weight_grad" and k[-2] == 24]
        assert keys, "the worker's answers for batches of 24 rows came back"
        # The other way: an answer the parent hands over is used, not probed again. The
        # plain call per config is always exact, and never the probe's pick for these.
        assert all(learned[k] != "per_model" for k in keys)
        exact._CHOSEN.update(dict.fromkeys(keys, "per_model"))
        pool.run(plan_tasks(configs, engine="vectorized"), DATA, "cpu", lambda *_: None)
        assert all(exact.known_choices()[k] == "per_model" for k in keys)
    finally:
        exact._CHOSEN.clear()
        exact._CHOSEN.update(before)


@pytest.mark.slow  # seconds: a subprocess, a full page or a benchmark
def test_a_script_without_a_main_guard_can_use_the_pool(tmp_path: Path) -> None:
    """Workers never re-run the caller's script (multiprocessing's spawn would)."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            from optiscope.records import RunConfig
            from optiscope.sweeps import run_configs
            records = run_configs([RunConfig(epochs=1, batch_size=b) for b in (32, 64)],
                                  workers=2)
            print("trained", len(records))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("trained") == 1
    assert "trained 2" in result.stdout


# -- run_configs ----------------------------------------------------------------------------


def test_run_configs_reports_every_position_in_order() -> None:
    seen: list[RunConfig] = []
    records = run_configs(MIXED, workers=1, on_record=lambda r: seen.append(r.config))
    assert [r.config for r in records] == MIXED
    assert sorted(c.key() for c in seen) == sorted(c.key() for c in MIXED)  # each position


def test_an_optimizer_without_a_vectorized_update_goes_to_the_reference_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asgd = OptimizerInfo(  # registered for this test only, without a vectorized update
        name="asgd",
        title="ASGD",
        torch_class=torch.optim.ASGD,
        hparams=(HParamSpec("lr", 1e-2, low=0.0, low_open=True),),
    )
    assert not asgd.vectorizable
    monkeypatch.setitem(OPTIMIZERS, "asgd", asgd)
    configs = [_config(optimizer="asgd", hparams={"lr": 0.001}), _config()]
    records = run_configs(configs, workers=1)
    assert [r.engine for r in records] == ["reference", "vectorized"]
    assert _numbers(records[:1]) == _numbers([train_reference(configs[0], DATA)])


def test_a_machine_that_cannot_stack_exactly_falls_back_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optiscope.engine._exact as exact

    def refuse(*_: Any, **__: Any) -> Any:
        raise exact.InexactError("pretend no batched kernel is exact here")

    monkeypatch.setattr("optiscope.engine._stacked_net.choose", refuse)
    [record] = run_configs([_config()], workers=1)
    assert record.engine == "reference"


def test_a_device_where_the_vectorized_update_drifts_trains_with_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The optimizer check before a group trains (see optiscope.optim.matches_reference)
    sends the group to the reference engine, with its numbers."""
    monkeypatch.setattr("optiscope.engine._vectorized.matches_reference", lambda *a: False)
    configs = [_config(), _config(lr=0.1)]
    records = run_configs(configs, workers=1)
    assert [r.engine for r in records] == ["reference", "reference"]
    assert _numbers(records) == _numbers([train_reference(c, DATA) for c in configs])


def test_run_configs_checks_its_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        run_configs([_config()], engine="turbo")
    with pytest.raises(ConfigError, match="workers"):
        run_configs([_config()], workers=0)
    with pytest.raises(ConfigError, match="config 2 of 2"):
        run_configs([_config(), _config(batch_size=0)])
