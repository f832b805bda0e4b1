"""The fused Adam/AdamW kernel: bit for bit torch.optim, built on first use, and a clean
fallback to the torch calls where it cannot be built or does not reproduce torch here.

``tests/test_optim_vectorized.py`` holds every vectorized step (the fused one where the kernel
is available, as by default) to torch.optim; here both paths are held to it side by side, over
more steps and magnitudes down to subnormal moments, with an lr that changes every step.
"""

from __future__ import annotations

import ctypes
import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from optiscope.engine import train_vectorized
from optiscope.optim import _adam, _native, get_optimizer
from optiscope.records import DataSpec, RunConfig

SIZES = [(3, 7), (50,), (1,), (67,)]  # lengths on and off every vector width
STEPS = 25


def _mixed(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Normal values times 10**e, e in [-44, 3]: squares from subnormal to large, and a
    quarter of the values exactly zero (dead units)."""
    values = torch.randn(shape, generator=generator)
    scale = torch.pow(10.0, torch.randint(-44, 4, shape, generator=generator).float())
    scale[torch.rand(shape, generator=generator) < 0.25] = 0.0
    return values * scale


@_native._VSQRT
def _sqrt_one_ulp_up(n: int, a: int, r: int, mode: int) -> None:
    """A square root over an array (the kernels' ``vsqrt``) one ulp above the true one."""
    values = np.ctypeslib.as_array(ctypes.cast(a, ctypes.POINTER(ctypes.c_float)), (n,))
    out = np.ctypeslib.as_array(ctypes.cast(r, ctypes.POINTER(ctypes.c_float)), (n,))
    out[:] = np.nextafter(np.sqrt(values), np.float32(np.inf))


SQRT_ONE_ULP_UP = ctypes.cast(_sqrt_one_ulp_up, ctypes.c_void_p).value
"""Its address, as a kernel takes torch's square root."""


def _grid(name: str) -> list[dict[str, Any]]:
    info = get_optimizer(name)
    return [
        info.validate({"lr": lr, "betas": (b1, b2), "weight_decay": wd, "eps": eps})
        for lr, b1, b2, wd, eps in itertools.product(
            (1.0, 0.01), (0.3, 0.9), (0.5, 0.999), (0.0, 0.25), (1e-8, 0.0)
        )
    ]


def _schedule(step: int, base: float) -> float:
    """An lr that changes every step (a warm-up, then a decay)."""
    return base * min(1.0, step / 5) * 0.97**step


def _kernel_or_skip() -> None:
    if _adam.fused_kernel() is None:
        pytest.skip(f"no fused kernel on this machine: {_adam.fused_unavailable_reason()}")


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "torch_calls"])
@pytest.mark.parametrize("scheduled", [False, True], ids=["constant_lr", "scheduled_lr"])
def test_both_paths_equal_torch_optim(name: str, fused: bool, scheduled: bool) -> None:
    if fused:
        _kernel_or_skip()
    info = get_optimizer(name)
    hparams = _grid(name)
    k = len(hparams)
    generator = torch.Generator().manual_seed(14)
    stacked = [_mixed((k, *shape), generator) + 1.0 for shape in SIZES]
    singles = []
    for config, values in enumerate(hparams):
        params = [p[config].clone().requires_grad_() for p in stacked]
        singles.append((params, info.make_torch(params, values)))
    grads = [torch.empty_like(p) for p in stacked]  # one buffer, as the engine has
    assert info.init_state is not None and info.step is not None
    state = info.init_state(stacked, hparams)
    state.fused = fused
    for step in range(1, STEPS + 1):
        if scheduled:
            state.lr = tuple(_schedule(step, h["lr"]) for h in hparams)
        for grad in grads:
            grad.copy_(_mixed(tuple(grad.shape), generator))
        info.step(stacked, grads, state)
        assert (state._plan.fused is not None) is fused
        for config, (params, optimizer) in enumerate(singles):
            if scheduled:
                optimizer.param_groups[0]["lr"] = state.lr[config]
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad[config].clone()
            optimizer.step()
    for config, (params, optimizer) in enumerate(singles):
        for index, param in enumerate(params):
            where = f"{name}, config {hparams[config]}, param {SIZES[index]}"
            torch.testing.assert_close(
                stacked[index][config], param.detach(), rtol=0, atol=0, equal_nan=True, msg=where
            )
            moments = optimizer.state[param]
            torch.testing.assert_close(
                state.exp_avg_sq[index][config], moments["exp_avg_sq"], rtol=0, atol=0, msg=where
            )


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_blocks_of_precomputed_scalars_across_boundaries_and_an_lr_change(name: str) -> None:
    """With a constant lr the fused step reads its scalars from tables of growing length,
    up to BLOCK steps: over 600 steps (tables from steps 1, 9, 18, ..., 288, and full ones
    after that), with the lrs replaced at step 300 (a new table from there), the kernel
    equals torch.optim bit for bit."""
    _kernel_or_skip()
    from optiscope.optim._adam_fused import BLOCK

    info = get_optimizer(name)
    hparams = _grid(name)[::4]  # 8 configs: both beta1s, both beta2s, both weight decays
    k, steps, change = len(hparams), 600, 300
    assert steps > 2 * BLOCK
    generator = torch.Generator().manual_seed(15)
    stacked = [_mixed((k, 5), generator) + 1.0]
    singles = []
    for config, values in enumerate(hparams):
        params = [stacked[0][config].clone().requires_grad_()]
        singles.append((params[0], info.make_torch(params, values)))
    grads = [torch.empty_like(stacked[0])]
    assert info.init_state is not None and info.step is not None
    state = info.init_state(stacked, hparams)
    for step in range(1, steps + 1):
        if step == change:
            state.lr = tuple(h["lr"] / 3 for h in hparams)
            for config, (_, optimizer) in enumerate(singles):
                optimizer.param_groups[0]["lr"] = state.lr[config]
        grads[0].copy_(torch.randn(grads[0].shape, generator=generator) * 1e-3)
        info.step(stacked, grads, state)
        assert state._plan.fused is not None
        for config, (param, optimizer) in enumerate(singles):
            param.grad = grads[0][config].clone()
            optimizer.step()
    for config, (param, _) in enumerate(singles):
        torch.testing.assert_close(
            stacked[0][config], param.detach(), rtol=0, atol=0, equal_nan=True
        )


def test_the_kernel_is_built_here() -> None:
    """Where a C compiler is on PATH (every machine this project's setup targets), the
    kernel is built and passes its checks: otherwise the fast path would silently vanish."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on PATH: the torch calls are used instead")
    assert _adam.fused_kernel() is not None, _adam.fused_unavailable_reason()


def test_a_fresh_cache_builds_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on PATH")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kernel = _native.load.__wrapped__()
    assert kernel is not None, _native.unavailable_reason()
    assert [p.name.startswith("fused_adam-") for p in (tmp_path / "optiscope").iterdir()] == [True]


def test_without_a_compiler_the_torch_calls_give_the_same_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No compiler (and nothing cached): :func:`_native.load` says why and returns None,
    and training falls back to the torch calls with the same curves as the kernel's."""
    _kernel_or_skip()  # (loaded now, before the environment below hides the compiler)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert _native.load.__wrapped__() is None
    assert "could not be built" in (_native.unavailable_reason() or "")

    data = DataSpec(name="friedman3", n=120, train_fraction=0.75)
    configs = [
        RunConfig(
            optimizer="adamw",
            hparams={"lr": lr, "weight_decay": 0.01},
            batch_size=16,
            epochs=3,
            seed=seed,
            data=data,
        )
        for lr, seed in ((0.01, 1), (0.1, 2), (1.0, 3))
    ]
    with_kernel = train_vectorized(configs)
    monkeypatch.setattr(_adam, "fused_kernel", _native.load.__wrapped__)  # None, as above
    without = train_vectorized(configs)
    assert [r.curve.valid_loss for r in with_kernel] == [r.curve.valid_loss for r in without]
    assert [r.curve.train_loss for r in with_kernel] == [r.curve.train_loss for r in without]


def test_a_kernel_whose_sqrt_is_one_ulp_off_is_refused() -> None:
    """The load-time checks catch a square root that is not torch's: each result nudged by
    one ulp, as a different library's would be for some inputs."""
    _kernel_or_skip()
    kernel = _adam.fused_kernel()
    assert kernel is not None

    address = SQRT_ONE_ULP_UP
    broken = _native.FusedAdam(kernel._library, address)
    assert not _native._same_sqrt(broken)
    assert not _adam._fused_agrees(broken)
    assert _adam._fused_agrees(kernel)  # (and the real one passes the same check)


def test_moments_replaced_between_steps_are_the_ones_updated() -> None:
    """The kernel holds the moments' addresses: a state whose moment tensors were replaced
    (as a restore might) is bound again, so the new tensors are updated, as torch's are."""
    info = get_optimizer("adamw")
    hparams = [info.validate({"lr": 0.1}), info.validate({"lr": 0.01})]
    generator = torch.Generator().manual_seed(5)
    params = [torch.randn(2, 40, generator=generator)]
    single = [params[0][k].clone().requires_grad_() for k in range(2)]
    optimizers = [info.make_torch([single[k]], hparams[k]) for k in range(2)]
    assert info.init_state is not None and info.step is not None
    state = info.init_state(params, hparams)
    grads = [torch.empty_like(params[0])]
    for step in range(6):
        grads[0].copy_(torch.randn(2, 40, generator=generator))
        if step == 3:
            state.exp_avg = [m.clone() for m in state.exp_avg]
            state.exp_avg_sq = [v.clone() for v in state.exp_avg_sq]
        info.step(params, grads, state)
        for k in range(2):
            single[k].grad = grads[0][k].clone()
            optimizers[k].step()
    for k in range(2):
        assert torch.equal(params[0][k], single[k].detach())
        assert torch.equal(state.exp_avg[0][k], optimizers[k].state[single[k]]["exp_avg"])
