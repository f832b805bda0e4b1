"""The automatic choice between one process and the pool, with injected costs (no timing is
asserted), how workers start (forked where that is safe) and the measured start-up, the early
pool start, and that a group split over two processes gives the numbers one process gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

import optiscope.sweeps._backends as backends
import optiscope.sweeps._pool as pool_module
import optiscope.sweeps._run as run_module
from optiscope.records import RunConfig, RunRecord
from optiscope.sweeps import run_configs
from optiscope.sweeps._backends import POOL_MARGIN, choose_backend
from optiscope.sweeps._groups import Task, plan_tasks
from optiscope.sweeps._pool import pool_is_warm, start_pool, stop_pool, worker_start_seconds


@pytest.fixture(autouse=True)
def _no_pool_before_or_after() -> Iterator[None]:
    stop_pool()
    before = torch.get_num_threads()
    yield
    stop_pool()
    torch.set_num_threads(before)


def _task(cost: float) -> Task:
    return Task(engine="vectorized", configs=(), indices=(), cost=cost)


def _choose(tasks: list[float], alone: list[float], start: float, cpus: int = 2) -> str:
    return choose_backend(
        [_task(c) for c in tasks],
        workers=None,
        device="cpu",
        alone=[_task(c) for c in alone],
        start_seconds=start,
    ).name


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 2)


@pytest.mark.usefixtures("two_cpus")
def test_a_split_group_goes_to_two_processes_when_its_halves_finish_sooner() -> None:
    # one group of cost 4 alone; halves of 2.6 each (a step's fixed cost is paid twice)
    assert _choose([2.6, 2.6], [4.0], start=0.5) == "process-pool"  # 3.1 < 0.9 * 4
    assert _choose([2.6, 2.6], [4.0], start=1.5) == "in-process"  # 4.1 > 3.6
    # the split plan's own sum (5.2) is not one process's time: the one-process plan's is
    assert _choose([2.6, 2.6], [5.0], start=1.5) == "process-pool"  # 4.1 < 4.5


@pytest.mark.usefixtures("two_cpus")
def test_the_margin_keeps_near_ties_on_one_process() -> None:
    alone = 10.0
    half = POOL_MARGIN * alone / 2  # finishes exactly at the margin: not a win
    assert _choose([half, half], [alone], start=half) == "in-process"
    assert _choose([half, half], [alone], start=half * 0.99) == "process-pool"


@pytest.mark.usefixtures("two_cpus")
def test_a_warm_pool_costs_no_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "pool_is_warm", lambda workers: True)
    assert _choose([1.0, 1.0], [1.9], start=100.0) == "process-pool"


def test_one_task_one_cpu_cuda_or_an_explicit_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 2)
    assert _choose([9.0], [9.0], start=0.0) == "in-process"  # nothing to share
    tasks = [_task(5.0), _task(5.0)]
    assert choose_backend(tasks, workers=None, device="cuda", start_seconds=0).name == (
        "in-process"
    )
    assert choose_backend(tasks, workers=3, device="cpu").name == "process-pool"
    assert choose_backend(tasks, workers=1, device="cpu").name == "in-process"
    monkeypatch.setattr(backends, "available_cpus", lambda: 1)
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 1)
    assert _choose([5.0, 5.0], [10.0], start=0.0) == "in-process"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_start_up_is_an_estimate_until_a_worker_has_started(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    monkeypatch.setattr(pool_module, "_measured_start", {})
    assert worker_start_seconds(method) == pool_module.WORKER_START_ESTIMATES[method]
    start_pool(2, method=method)
    measured = pool_module._measured_start[method]
    assert measured > 0
    assert worker_start_seconds(method) == measured
    pool_module._note_start(method, measured + 100)  # later starts do not replace the first
    assert worker_start_seconds(method) == measured
    other = "spawn" if method == "fork" else "fork"  # each way of starting is its own
    assert worker_start_seconds(other) == pool_module.WORKER_START_ESTIMATES[other]


def test_workers_are_forked_only_where_that_is_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    safe = {"platform": "linux", "python_threads": 1, "cuda": False}
    assert pool_module._fork_is_safe(**safe)
    for unsafe in ({"platform": "darwin"}, {"platform": "win32"}, {"python_threads": 2}):
        assert not pool_module._fork_is_safe(**{**safe, **unsafe}), unsafe
    assert not pool_module._fork_is_safe(**{**safe, "cuda": True})
    monkeypatch.setattr(pool_module, "FORK", False)
    assert not pool_module._fork_is_safe(**safe)
    assert pool_module.start_method() == "spawn"


def test_the_choice_counts_the_start_up_of_the_way_a_pool_would_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "_measured_start", {"fork": 0.01, "spawn": 5.0})
    tasks = [_task(1.0), _task(1.0)]  # 1.01 s forked, 6 s spawned, against 2 s alone
    monkeypatch.setattr(pool_module, "start_method", lambda: "fork")
    assert choose_backend(tasks, workers=None, device="cpu").name == "process-pool"
    monkeypatch.setattr(pool_module, "start_method", lambda: "spawn")
    assert choose_backend(tasks, workers=None, device="cpu").name == "in-process"


def test_a_forked_worker_ends_when_its_input_closes_and_can_be_killed() -> None:
    """The other workers' pipe ends are closed in each child: closing one worker's input
    ends that worker, whatever the others hold."""
    pool = pool_module.LocalPool(2, method="fork")
    try:
        pool.wait_ready()
        first, second = pool.processes
        assert first.stdin is not None
        first.stdin.close()
        assert first.wait(timeout=10) == 0
        second.kill()
        assert second.wait(timeout=10) != 0
    finally:
        pool.close(kill=True)


def _config(lr: float, **fields: Any) -> RunConfig:
    return RunConfig(
        hparams={"lr": lr, "betas": (0.9, 0.999), "weight_decay": 0.01},
        **{"epochs": 2, **fields},
    )


EIGHT = [_config(lr=0.001 * (i + 1)) for i in range(8)]


def _numbers(records: list[RunRecord]) -> list[tuple[Any, ...]]:
    return [(r.status, repr(r.curve.valid_loss), repr(r.curve.train_loss)) for r in records]


def test_an_eight_config_group_splits_in_two_and_gives_one_processes_numbers() -> None:
    halves = plan_tasks(EIGHT, engine="vectorized", workers=2)
    assert sorted(len(t.configs) for t in halves) == [4, 4]
    alone = run_configs(EIGHT, workers=1)
    split = run_configs(EIGHT, workers=2)
    assert _numbers(split) == _numbers(alone)
    assert [r.config for r in split] == EIGHT


def test_workers_forked_after_torch_ran_on_two_threads_give_one_processes_numbers() -> None:
    """The caller's intra-op thread pool exists when it forks (as after the literal loop
    with torch's default threads): the forked workers run one thread and neither hang nor
    drift."""
    torch.set_num_threads(2)
    square = torch.randn(512, 512)
    assert torch.isfinite(square @ square).all()  # a product that runs on both threads
    start_pool(2, method="fork")
    split = run_configs(EIGHT, workers=2)
    assert _numbers(split) == _numbers(run_configs(EIGHT, workers=1))


def test_run_configs_trains_the_unsplit_plan_when_it_chooses_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    real = backends.InProcessBackend.run

    def spy(self: Any, tasks: Any, **kwargs: Any) -> None:
        seen.extend(len(t.configs) for t in tasks)
        real(self, tasks, **kwargs)

    monkeypatch.setattr(backends, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 2)
    monkeypatch.setattr(backends.InProcessBackend, "run", spy)
    monkeypatch.setattr(pool_module, "_measured_start", {"fork": 1e6, "spawn": 1e6})  # never pays
    run_configs(EIGHT)
    assert seen == [8]


def test_the_pool_is_started_early_only_when_the_choice_is_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 2)
    monkeypatch.setattr(pool_module, "_measured_start", {"fork": 1e6, "spawn": 1e6})
    run_module.prestart_for(EIGHT, engine=None, device="cpu", workers=None)
    assert pool_module._POOL is None
    monkeypatch.setattr(pool_module, "_measured_start", {"fork": 0.0, "spawn": 0.0})
    run_module.prestart_for(EIGHT, engine=None, device="cpu", workers=None)
    assert pool_module._POOL is not None  # launched, not waited for
    pool_module._POOL.wait_ready()
    assert pool_is_warm(2)
