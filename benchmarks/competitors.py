"""The other ways to train the exercise's grid on these 2 cores, for bench_engine.py's columns.

- the literal loop in two processes (half the configs each, a warm spawn pool);
- eager ``torch.func``: ``vmap(grad_and_value(loss))`` over K stacked MLPs plus a stacked
  AdamW written with per-config columns (not op-for-op torch's, so not exact);
- the same step under ``torch.compile`` (inductor, CPU), in two processes: compiling takes
  seconds per process and per batch shape, so it runs only on request.

Each returns the seconds and every config's validation curve (the exercise's mean of batch
RMSEs), so the caller can say how far each drifts from the exact loop.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.func import grad_and_value, vmap
from torch.nn import functional as F

from optiscope.data import Dataset, make_dataset
from optiscope.models import stack_mlps

Settings = dict[str, float]
Curves = list[list[float]]


# -- two processes --------------------------------------------------------------------------


_BARRIER: Any = None


def _warm(barrier: Any) -> None:
    """Run once in each worker as it starts: everything its first timed config would
    otherwise pay for (torch, the data, the literal loop's module, and ``torch._dynamo``,
    which building a ``torch.optim`` optimizer imports the first time: seconds)."""
    global _BARRIER
    import bench_engine  # noqa: F401

    _BARRIER = barrier
    torch.set_num_threads(1)
    make_dataset()
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def _meet(_: int) -> int:
    _BARRIER.wait(timeout=600)  # both workers at once: two distinct, warm processes
    return os.getpid()


def two_process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """Two spawned workers, both started and warm before anything is timed."""
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(
        2, mp_context=context, initializer=_warm, initargs=(context.Barrier(2),)
    )
    assert len(set(pool.map(_meet, range(2)))) == 2
    return pool


def in_two_processes(
    pool: concurrent.futures.ProcessPoolExecutor,
    run: Callable[..., tuple[float, Curves]],
    settings: Sequence[Settings],
    *args: Any,
) -> tuple[float, Curves]:
    """``run(half, *args)`` on each half of ``settings`` at once: wall seconds, curves in order."""
    half = (len(settings) + 1) // 2
    start = time.perf_counter()
    parts = [
        pool.submit(run, list(settings[:half]), *args),
        pool.submit(run, list(settings[half:]), *args),
    ]
    curves = [curve for part in parts for curve in part.result()[1]]
    return time.perf_counter() - start, curves


def literal_configs(settings: Sequence[Settings], epochs: int) -> tuple[float, Curves]:
    """The literal loop, one config after another, one intra-op thread (in a worker)."""
    import bench_engine  # the loop lives there; imported here so workers find it

    torch.set_num_threads(1)
    bench_engine.EPOCHS = epochs
    data = make_dataset()
    start = time.perf_counter()
    curves = [bench_engine.literal_train_valid(s, data) for s in settings]
    return time.perf_counter() - start, curves


# -- torch.func vmap + stacked AdamW ----------------------------------------------------------


def _loss(params: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    W1, b1, W2, b2, W3, b3 = params
    h = torch.relu(F.linear(x, W1, b1))
    h = torch.relu(F.linear(h, W2, b2))
    return F.mse_loss(F.linear(h, W3, b3), y)


def _valid_rmse(params: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(_loss(params, x, y))


_grad = vmap(grad_and_value(_loss), in_dims=(0, None, None))
_rmse = vmap(_valid_rmse, in_dims=(0, None, None))


def _columns(settings: Sequence[Settings]) -> dict[str, torch.Tensor]:
    def col(values: list[float]) -> torch.Tensor:
        return torch.tensor(values).view(-1, 1)

    return {
        "decay": col([1 - s["lr"] * s["weight_decay"] for s in settings]),
        "1-beta1": col([1 - s["beta1"] for s in settings]),
        "beta1": col([s["beta1"] for s in settings]),
        "beta2": col([s["beta2"] for s in settings]),
        "1-beta2": col([1 - s["beta2"] for s in settings]),
        "lr": col([s["lr"] for s in settings]),
    }


def _adamw(
    params: list[torch.Tensor],
    grads: Sequence[torch.Tensor],
    m: list[torch.Tensor],
    v: list[torch.Tensor],
    c: dict[str, torch.Tensor],
    t: torch.Tensor,
) -> None:
    """AdamW on stacked parameters with per-config columns (torch's formula, not its order)."""
    bias1 = 1 - c["beta1"] ** t  # (K, 1)
    bias2 = torch.sqrt(1 - c["beta2"] ** t)
    size = c["lr"] / bias1
    for p, g, mp, vp in zip(params, grads, m, v, strict=True):
        shape = (-1,) + (1,) * (p.dim() - 1)
        p.mul_(c["decay"].view(shape))
        mp.lerp_(g, c["1-beta1"].view(shape))
        vp.mul_(c["beta2"].view(shape)).addcmul_(g * c["1-beta2"].view(shape), g)
        denom = vp.sqrt() / bias2.view(shape) + 1e-8
        p.addcdiv_(mp * size.view(shape), denom, value=-1)


def _train_step(
    params: list[torch.Tensor],
    m: list[torch.Tensor],
    v: list[torch.Tensor],
    c: dict[str, torch.Tensor],
    t: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
) -> None:
    grads, _ = _grad(tuple(params), x, y)
    with torch.no_grad():
        _adamw(params, grads, m, v, c, t)


def vmap_configs(
    settings: Sequence[Settings], epochs: int, compiled: bool = False, seed: int = 123
) -> tuple[float, Curves]:
    """Train ``settings`` (one batch size) as K stacked models with ``torch.func``.

    Returns the seconds (compilation included when ``compiled``) and the validation curves.
    """
    torch.set_num_threads(1)
    data: Dataset = make_dataset()
    batch = int(settings[0]["batch_size"])
    assert all(int(s["batch_size"]) == batch for s in settings), "one batch size per call"
    start = time.perf_counter()
    buffer, layout = stack_mlps(data.n_features, (50, 50), "relu", [seed] * len(settings))
    params = [p.clone() for p in layout.views(buffer)]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    c = _columns(settings)
    step = torch.compile(_train_step, dynamic=False) if compiled else _train_step
    curves: Curves = [[] for _ in settings]
    t = 0
    for _ in range(epochs):
        for first in range(0, data.n_train, batch):
            t += 1
            x, y = data.X_train[first : first + batch], data.y_train[first : first + batch]
            step(params, m, v, c, torch.tensor(float(t)), x, y)
        with torch.no_grad():
            losses = [
                _rmse(tuple(params), data.X_valid[i : i + batch], data.y_valid[i : i + batch])
                for i in range(0, data.n_valid, batch)
            ]
            mean = torch.stack(losses).mean(0)  # (K,): the exercise's mean of batch RMSEs
        for curve, value in zip(curves, mean.tolist(), strict=True):
            curve.append(value)
    return time.perf_counter() - start, curves
