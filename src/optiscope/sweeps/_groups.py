"""From configs to tasks: deduplicate, group what trains in lockstep, chunk, balance.

A :class:`Task` is what a backend runs in one go: configs trained together by one engine.
Planning follows what the engines can do (capabilities as data, never names):

- identical configs (same :meth:`RunConfig.key`) train once and share the record;
- with ``engine="vectorized"``, configs with the same :func:`lockstep_key` form a group; a
  config whose key is ``None`` (its optimizer has no vectorized update) runs alone on the
  reference engine;
- a group is cut into chunks of at most :data:`MAX_CHUNK` configs (past that, activations no
  longer fit in cache and a step gets slower per config), and big chunks are halved while
  there are fewer tasks than workers to keep busy;
- every task carries an estimate of its seconds, so backends can balance by step count (a
  batch-size sweep has 10,500 steps at batch size 2 and 330 at 64);
- a config with a checkpoint of the task's engine resumes from it, in a group of configs
  resumed from the same epoch (lockstep needs one epoch); a checkpoint of another engine is
  not used (see :mod:`optiscope.engine._checkpoint`).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from optiscope.engine import Checkpoint, CheckpointPolicy, estimate_seconds, lockstep_key
from optiscope.records import RunConfig

__all__ = ["MAX_CHUNK", "MIN_SPLIT", "Task", "makespan", "plan_tasks"]

MAX_CHUNK = 64
"""Most configs in one stacked task."""

MIN_SPLIT = 2
"""Smallest half when a chunk is split to feed idle workers. A step's fixed cost is about
as large as a few configs' share (engine/_cost.py), so halving a group of 4 already gives
each process a shorter step; whether two processes win is decided with the one-process plan
beside it (:func:`optiscope.sweeps._backends.choose_backend`)."""


@dataclass(frozen=True)
class Task:
    """Configs one backend call trains together.

    Attributes:
        engine: ``vectorized`` (the configs share a lockstep key) or ``reference``.
        configs: the distinct configs of the task.
        indices: for each config, the positions in the caller's list that it answers.
        cost: estimated seconds on one core.
        resume: for each config, the checkpoint it goes on from (``None``: from the start);
            a vectorized task's configs all have one, of one epoch, or none has.
        checkpoints: when to hand out checkpoints (``None``: never).
    """

    engine: str
    configs: tuple[RunConfig, ...]
    indices: tuple[tuple[int, ...], ...]
    cost: float
    resume: tuple[Checkpoint | None, ...] = ()
    checkpoints: CheckpointPolicy | None = None

    def start(self, position: int) -> Checkpoint | None:
        """The checkpoint config ``position`` of the task resumes from, if any."""
        return self.resume[position] if self.resume else None


def plan_tasks(
    configs: Sequence[RunConfig],
    *,
    engine: str,
    workers: int = 1,
    n_train: int | None = None,
    resume: Mapping[str, Checkpoint] | None = None,
    checkpoints: CheckpointPolicy | None = None,
) -> list[Task]:
    """Cut ``configs`` into tasks, largest estimated cost first.

    Args:
        configs: the runs, in the caller's order.
        engine: ``vectorized`` or ``reference``.
        workers: how many tasks can run at once (big groups are split to keep them busy).
        n_train: training rows when all configs share one data set (user arrays); ``None``
            reads it from each config's data spec.
        resume: by config key, checkpoints to go on from.
        checkpoints: when the tasks hand out checkpoints (``None``: never).

    Returns:
        Tasks sorted by decreasing cost (the order a greedy scheduler should start them).
    """
    distinct: dict[str, int] = {}
    unique: list[RunConfig] = []
    answers: list[list[int]] = []
    for index, config in enumerate(configs):
        key = config.key()
        if key not in distinct:
            distinct[key] = len(unique)
            unique.append(config)
            answers.append([])
        answers[distinct[key]].append(index)

    groups: dict[Hashable, list[int]] = {}
    alone: list[int] = []
    starts: list[Checkpoint | None] = []
    for position, config in enumerate(unique):
        lockstep = lockstep_key(config) if engine == "vectorized" else None
        kind = "reference" if lockstep is None else "vectorized"
        saved = (resume or {}).get(config.key())
        starts.append(saved if saved is not None and saved.engine == kind else None)
        if lockstep is None:
            alone.append(position)
        else:
            start = starts[-1]
            groups.setdefault((lockstep, start.epoch if start else 0), []).append(position)

    def task(kind: str, members: Sequence[int]) -> Task:
        return _task(
            kind,
            [unique[m] for m in members],
            [answers[m] for m in members],
            n_train,
            [starts[m] for m in members],
            checkpoints,
        )

    tasks = [task("reference", [m]) for m in alone]
    for members in groups.values():
        for first in range(0, len(members), MAX_CHUNK):
            tasks.append(task("vectorized", members[first : first + MAX_CHUNK]))
    if workers > 1:
        tasks = _split_for_workers(tasks, workers, n_train)
    return sorted(tasks, key=lambda t: -t.cost)


def _task(
    engine: str,
    configs: Sequence[RunConfig],
    indices: Sequence[Sequence[int]],
    n_train: int | None,
    resume: Sequence[Checkpoint | None],
    checkpoints: CheckpointPolicy | None,
) -> Task:
    cost = estimate_seconds(configs[0], len(configs), engine=engine, n_train=n_train)
    trained = resume[0].epoch if resume[0] is not None else 0  # (one epoch for the task)
    return Task(
        engine=engine,
        configs=tuple(configs),
        indices=tuple(tuple(i) for i in indices),
        cost=cost * (configs[0].epochs - trained) / configs[0].epochs,
        resume=tuple(resume) if any(r is not None for r in resume) else (),
        checkpoints=checkpoints,
    )


def _split_for_workers(tasks: list[Task], workers: int, n_train: int | None) -> list[Task]:
    """Halve the costliest stacked task while it alone would outlast an even share."""
    while tasks:
        tasks.sort(key=lambda t: -t.cost)
        biggest = tasks[0]
        if (
            biggest.engine != "vectorized"
            or len(biggest.configs) < 2 * MIN_SPLIT
            or biggest.cost <= sum(t.cost for t in tasks) / workers
        ):
            break
        half = len(biggest.configs) // 2
        resume = biggest.resume or (None,) * len(biggest.configs)
        first, second = (
            _task(
                "vectorized",
                biggest.configs[part],
                biggest.indices[part],
                n_train,
                resume[part],
                biggest.checkpoints,
            )
            for part in (slice(None, half), slice(half, None))
        )
        tasks = [*tasks[1:], first, second]
    return tasks


def makespan(costs: Sequence[float], workers: int) -> float:
    """Seconds until ``workers`` greedy workers finish tasks of these costs (largest first)."""
    finish = [0.0] * max(1, workers)
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(finish, finish[0] + cost)
    return max(finish)
