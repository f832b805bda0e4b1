"""Would a compiled group step be worth offering as ``engine="compiled"``? (issue 3, point 7)

One training step of K stacked configs (the exercise's MLP and AdamW, bs 16) written as plain
tensor code and handed to ``torch.compile`` (inductor, CPU), against optiscope's exact engine
on the same configs: time per config including compilation, and how far its validation
curves drift from the exact ones (the reference engine's numbers).

Usage::

    .venv/bin/python benchmarks/bench_compiled.py --k 64 --epochs 5
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import torch

from optiscope.data import make_dataset
from optiscope.engine import train_vectorized
from optiscope.models._stacked import stack_mlps
from optiscope.records import RunConfig


def configs_for(k: int, epochs: int) -> list[RunConfig]:
    grid = itertools.product(
        [1, 0.1, 0.01, 0.001],
        [0.5, 0.125, 0.03125, 0.01],
        [0.5, 0.85, 0.9, 0.99],
        [0.99, 0.995, 0.999, 0.9999],
        range(16),  # seeds, for K past 256
    )
    return [
        RunConfig(
            hparams={"lr": lr, "weight_decay": wd, "betas": (b1, b2)},
            epochs=epochs,
            seed=123 + seed,
        )
        for lr, wd, b1, b2, seed in itertools.islice(grid, k)
    ]


def step(
    params: list[torch.Tensor],
    m: list[torch.Tensor],
    v: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    decay: torch.Tensor,
    one_minus_beta1: torch.Tensor,
    beta2: torch.Tensor,
    one_minus_beta2: torch.Tensor,
    bias2: torch.Tensor,
    step_size: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """Forward, backward and AdamW for K configs; returns each config's batch MSE."""
    W1, b1, W2, b2, W3, b3 = params
    a1 = torch.baddbmm(b1.unsqueeze(1), x, W1.mT)
    h1 = torch.relu(a1)
    a2 = torch.baddbmm(b2.unsqueeze(1), h1, W2.mT)
    h2 = torch.relu(a2)
    out = torch.baddbmm(b3.unsqueeze(1), h2, W3.mT)  # (K, B, 1)
    diff = out - y
    loss = (diff * diff).mean(dim=(1, 2))
    g3 = diff * (2.0 / x.shape[1])
    grads = [None] * 6
    grads[4], grads[5] = torch.bmm(g3.mT, h2), g3.sum(1)
    g2 = torch.where(h2 > 0, torch.bmm(g3, W3), 0.0)
    grads[2], grads[3] = torch.bmm(g2.mT, h1), g2.sum(1)
    g1 = torch.where(h1 > 0, torch.bmm(g2, W2), 0.0)
    grads[0], grads[1] = torch.bmm(g1.mT, x), g1.sum(1)
    for i, p in enumerate(params):
        shape = (-1,) + (1,) * (p.dim() - 1)
        g = grads[i]
        p.mul_(decay.view(shape))
        m[i].lerp_(g, one_minus_beta1.view(shape))
        v[i].mul_(beta2.view(shape)).addcmul_(g * one_minus_beta2.view(shape), g)
        denom = v[i].sqrt() / bias2.view(shape) + eps.view(shape)
        p.addcdiv_(m[i] * step_size.view(shape), denom)
    return loss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = make_dataset()
    configs = configs_for(args.k, args.epochs)
    k, batch = len(configs), 16

    start = time.perf_counter()
    exact = train_vectorized(configs, data)
    exact_seconds = time.perf_counter() - start

    buffer, layout = stack_mlps(4, (50, 50), "relu", [c.seed for c in configs])
    params = [p.clone() for p in layout.views(buffer)]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    hp = [c.hparam_dict for c in configs]

    def column(values: list[float]) -> torch.Tensor:
        return torch.tensor(values)

    decay = column([1 - h["lr"] * h["weight_decay"] for h in hp])
    omb1 = column([1 - h["betas"][0] for h in hp])
    b2 = column([h["betas"][1] for h in hp])
    omb2 = column([1 - h["betas"][1] for h in hp])
    eps = column([1e-8] * k)
    compiled = torch.compile(step, dynamic=False)
    t = 0
    drift = 0.0
    start = time.perf_counter()
    compile_seconds = 0.0
    epoch_seconds = []
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        for first in range(0, data.n_train, batch):
            x = data.X_train[first : first + batch].expand(k, -1, -1)
            y = data.y_train[first : first + batch].expand(k, -1, -1)
            t += 1
            bias2 = column([(1 - h["betas"][1] ** t) ** 0.5 for h in hp])
            size = column([-(h["lr"] / (1 - h["betas"][0] ** t)) for h in hp])
            began = time.perf_counter()
            compiled(params, m, v, x, y, decay, omb1, b2, omb2, bias2, size, eps)
            if t == 1:
                compile_seconds = time.perf_counter() - began
        epoch_seconds.append(time.perf_counter() - epoch_start)
        with torch.no_grad():
            xv = data.X_valid.expand(k, -1, -1)
            h = torch.relu(torch.baddbmm(params[1].unsqueeze(1), xv, params[0].mT))
            h = torch.relu(torch.baddbmm(params[3].unsqueeze(1), h, params[2].mT))
            out = torch.baddbmm(params[5].unsqueeze(1), h, params[4].mT)
            rmse = torch.sqrt(((out - data.y_valid) ** 2).mean(dim=(1, 2))).tolist()
        for record, value in zip(exact, rmse, strict=True):
            if epoch < len(record.curve.valid_loss):
                reference = record.curve.valid_loss[epoch]
                if math.isfinite(reference) and math.isfinite(value):
                    drift = max(drift, abs(value - reference))
    compiled_seconds = time.perf_counter() - start
    off = sum(
        1
        for record, value in zip(exact, rmse, strict=True)
        if record.status == "done" and abs(value - record.curve.valid_loss[-1]) > 1e-3
    )
    print(f"K={k}, {args.epochs} epochs, 1 thread")
    print(f"exact engine:    {exact_seconds:.2f} s ({1e3 * exact_seconds / k:.1f} ms/config)")
    print(
        f"torch.compile:   {compiled_seconds:.2f} s with {compile_seconds:.1f} s compiling "
        f"({1e3 * (compiled_seconds - compile_seconds) / k:.1f} ms/config after it)"
    )
    steady = min(epoch_seconds[1:]) if len(epoch_seconds) > 1 else math.nan
    print(
        f"steady state: {1e3 * steady * 30 / k:.1f} ms/config for 30 epochs "
        f"(first epoch, compiling both batch shapes: {epoch_seconds[0]:.1f} s)"
    )
    print(f"largest drift of a validation RMSE: {drift:.3g}; configs off by > 1e-3: {off}/{k}")


if __name__ == "__main__":
    main()
