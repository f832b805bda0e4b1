"""The fused RMSprop, Adagrad, NAdam and RAdam kernels: bit for bit the torch calls they
replace (and so torch.optim), over every option in one group and alone, and a clean fallback
to the torch calls where the kernels cannot be built or do not reproduce them.

``tests/test_optim_vectorized.py`` holds the default step (the fused one where the kernel is
available) to torch.optim; here the fused and the torch-call paths run side by side on the
same numbers, parameters and every state tensor compared with a difference of 0.0 (NaN where
NaN), over magnitudes down to subnormal squares and exact zeros.
"""

from __future__ import annotations

import copy
import ctypes
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from optiscope.engine import train_vectorized
from optiscope.optim import StepLrs, _adagrad, _nadam, _native, _radam, _rmsprop, get_optimizer
from optiscope.optim._fused_plan import BLOCK, moment_tensors
from optiscope.optim._rms_fused import adagrad_tensors, rmsprop_tensors
from optiscope.records import DataSpec, RunConfig
from test_optim_fused import SQRT_ONE_ULP_UP, _mixed

SIZES = [(3, 7), (50,), (1,), (67,), (1030,)]  # on and off every vector width, and past
# the kernel's block of 1,024 elements
STEPS = 25

RMSPROP_GRID = [
    {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": wd, "momentum": mu, "centered": c}
    for lr, alpha, eps, wd, mu, c in itertools.product(
        (1.0, 0.01), (0.99, 0.3), (1e-8, 0.0), (0.0, 0.25), (0.0, 0.9), (False, True)
    )
]  # 64 configs: both lerp branches (1 - alpha < 0.5 and not), the sqrt clamp's cases
ADAGRAD_GRID = [
    {"lr": lr, "lr_decay": decay, "weight_decay": wd, "initial_accumulator_value": init, "eps": eps}
    for lr, decay, wd, init, eps in itertools.product(
        (1.0, 0.01), (0.0, 0.05), (0.0, 0.25), (0.0, 0.1), (1e-10, 0.0)
    )
]  # 32 configs
NADAM_GRID = [
    {"lr": lr, "betas": betas, "eps": eps, "weight_decay": wd, "momentum_decay": psi,
     "decoupled_weight_decay": decoupled}
    for lr, betas, eps, wd, psi, decoupled in itertools.product(
        (1.0, 0.01), ((0.9, 0.999), (0.3, 0.5)), (1e-8, 0.0), (0.0, 0.25), (4e-3, 0.1),
        (False, True),
    )
]  # fmt: skip
# (64 configs: L2 and decoupled decay in one group, both lerp branches, the clamp's cases)
RADAM_GRID = [
    {"lr": lr, "betas": (b1, b2), "eps": eps, "weight_decay": wd,
     "decoupled_weight_decay": decoupled}
    for lr, b1, b2, eps, wd, decoupled in itertools.product(
        (1.0, 0.01), (0.9, 0.3), (0.5, 0.9, 0.999), (1e-8, 0.0), (0.0, 0.25), (False, True),
    )
]  # fmt: skip
# (96 configs: rectified from step 3 (beta2 0.9), from step 6 (0.999) or never (0.5) in one
# group, L2 and decoupled decay, both lerp branches, the clamp's cases)
GRIDS = {"rmsprop": RMSPROP_GRID, "adagrad": ADAGRAD_GRID, "nadam": NADAM_GRID}
GRIDS["radam"] = RADAM_GRID
NAMES = list(GRIDS)
MODULES: dict[str, Any] = {"rmsprop": _rmsprop, "adagrad": _adagrad, "nadam": _nadam}
MODULES["radam"] = _radam
TENSORS: dict[str, Callable[..., list[torch.Tensor]]] = {
    "rmsprop": rmsprop_tensors,
    "adagrad": adagrad_tensors,
    "nadam": moment_tensors,
    "radam": moment_tensors,
}
LOADERS: dict[str, Any] = {"rmsprop": _native.load_rms, "adagrad": _native.load_rms}
LOADERS["nadam"], LOADERS["radam"] = _native.load_nadam, _native.load_radam
SECOND_MOMENTS = {"rmsprop": "square_avg", "adagrad": "sum"}
SECOND_MOMENTS["nadam"] = SECOND_MOMENTS["radam"] = "exp_avg_sq"


def _schedule(step: int, base: float) -> float:
    """An lr that changes every step (a warm-up, then a decay)."""
    return base * min(1.0, step / 5) * 0.97**step


def _kernel_or_skip(name: str) -> None:
    module = MODULES[name]
    if module.fused_kernel() is None:
        pytest.skip(f"no fused kernel on this machine: {module.fused_unavailable_reason()}")


def _hparams(name: str, grid: list[dict[str, Any]], scheduled: bool) -> list[dict[str, Any]]:
    info = get_optimizer(name)
    hparams = [info.validate(h) for h in grid]
    if scheduled:
        steps = range(1, STEPS + 1)
        hparams = [{**h, "lr": StepLrs([_schedule(t, h["lr"]) for t in steps])} for h in hparams]
    return hparams


def _run(
    name: str, hparams: list[dict[str, Any]], fused: bool, sizes: list[tuple[int, ...]]
) -> list[torch.Tensor]:
    """``STEPS`` steps of the stacked update on mixed numbers: the parameters and every state
    tensor at the end."""
    info = get_optimizer(name)
    assert info.init_state is not None and info.step is not None
    k = len(hparams)
    generator = torch.Generator().manual_seed(14)
    params = [_mixed((k, *shape), generator) + 1.0 for shape in sizes]
    grads = [torch.empty_like(p) for p in params]  # one buffer, as the engine has
    state = info.init_state(params, hparams)
    state.fused = fused
    for _ in range(STEPS):
        for grad in grads:
            grad.copy_(_mixed(tuple(grad.shape), generator))
        info.step(params, grads, state)
        assert (state._plan is not None and state._plan.kernel is not None) is fused
    return TENSORS[name](params, [], state)


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor], where: str) -> None:
    assert len(a) == len(b)
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        torch.testing.assert_close(
            x, y, rtol=0, atol=0, equal_nan=True, msg=f"{where}, tensor {index}"
        )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scheduled", [False, True], ids=["constant_lr", "scheduled_lr"])
def test_fused_equals_the_torch_calls_for_every_option_in_one_group(
    name: str, scheduled: bool
) -> None:
    _kernel_or_skip(name)
    hparams = _hparams(name, GRIDS[name], scheduled)
    fused = _run(name, hparams, True, SIZES)
    _assert_same(fused, _run(name, hparams, False, SIZES), f"{name}, {len(hparams)} configs")
    assert any(t.isnan().any() for t in fused)  # (eps = 0: 0 / 0, as in torch)
    if name == "rmsprop":  # (squared averages decay into subnormals; Adagrad's sums grow)
        state = fused[len(SIZES) :]
        assert any(((t != 0) & (t.abs() < torch.finfo().tiny)).any() for t in state)


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_the_torch_calls_for_one_config_at_a_time(name: str) -> None:
    """K = 1: every pointer the kernel may skip (no centered config, no momentum) is null,
    and the clamp is on or off per config."""
    _kernel_or_skip(name)
    for values in GRIDS[name][::3]:
        hparams = _hparams(name, [values], scheduled=False)
        _assert_same(
            _run(name, hparams, True, SIZES[:2]),
            _run(name, hparams, False, SIZES[:2]),
            f"{name}, {values}",
        )


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_torch_optim(name: str) -> None:
    """The fused path against torch.optim itself (not only the torch calls), parameters
    and state, with an lr that changes every step."""
    _kernel_or_skip(name)
    info = get_optimizer(name)
    grid = GRIDS[name][::5]
    hparams = _hparams(name, grid, scheduled=True)
    k = len(hparams)
    generator = torch.Generator().manual_seed(21)
    stacked = [_mixed((k, *shape), generator) + 1.0 for shape in SIZES[:4]]
    singles = []
    for config in range(k):
        params = [p[config].clone().requires_grad_() for p in stacked]
        singles.append((params, info.make_torch(params, info.validate(grid[config]))))
    grads = [torch.empty_like(p) for p in stacked]
    assert info.init_state is not None and info.step is not None
    state = info.init_state(stacked, hparams)
    for step in range(1, STEPS + 1):
        for grad in grads:
            grad.copy_(_mixed(tuple(grad.shape), generator))
        info.step(stacked, grads, state)
        assert state._plan.kernel is not None
        for config, (params, optimizer) in enumerate(singles):
            optimizer.param_groups[0]["lr"] = hparams[config]["lr"].at(step)  # (a scheduler)
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad[config].clone()
            optimizer.step()
    key = SECOND_MOMENTS[name]
    moments = getattr(state, key)
    for config, (params, optimizer) in enumerate(singles):
        for index, param in enumerate(params):
            where = f"{name}, config {grid[config]}, param {SIZES[index]}"
            torch.testing.assert_close(
                stacked[index][config], param.detach(), rtol=0, atol=0, equal_nan=True, msg=where
            )
            torch.testing.assert_close(
                moments[index][config],
                optimizer.state[param][key],
                rtol=0,
                atol=0,
                equal_nan=True,
                msg=where,
            )


def test_adagrad_step_sizes_across_blocks_of_precomputed_steps() -> None:
    """With lr_decay the fused step reads -clr from tables of BLOCK steps: over 600 steps
    (three tables) it equals the torch calls bit for bit."""
    _kernel_or_skip("adagrad")
    info = get_optimizer("adagrad")
    hparams = [
        info.validate({"lr": 0.1, "lr_decay": 0.01}),
        info.validate({"lr": 0.05, "lr_decay": 0.3, "eps": 1e-6}),
        info.validate({"lr": 0.1, "lr_decay": 0.01}),  # (a key shared by two configs)
    ]
    steps = 600
    assert steps > 2 * BLOCK
    runs = []
    for fused in (True, False):
        generator = torch.Generator().manual_seed(16)
        params = [torch.randn(3, 5, generator=generator)]
        grads = [torch.empty_like(params[0])]
        assert info.init_state is not None and info.step is not None
        state = info.init_state(params, hparams)
        state.fused = fused
        for _ in range(steps):
            grads[0].copy_(torch.randn(3, 5, generator=generator))
            info.step(params, grads, state)
        runs.append([params[0], state.sum[0]])
    _assert_same(runs[0], runs[1], "adagrad, 600 steps")


def _nudged(kernel: Any, name: str) -> Any:
    """The kernel with one wrong result: after each step, the first parameter of the
    first config one ulp up (as an FMA missing or added somewhere would do to some)."""
    broken = copy.copy(kernel)
    step = getattr(kernel, name)

    def nudged(ref: Any) -> None:
        step(ref)
        args = ref._obj  # (the structure ctypes.byref points to)
        first = ctypes.cast(args.p, ctypes.POINTER(ctypes.c_float))
        first[0] = float(np.nextafter(np.float32(first[0]), np.float32(np.inf)))

    setattr(broken, name, nudged)
    return broken


@pytest.mark.parametrize("name", NAMES)
def test_a_kernel_with_a_wrong_result_is_refused(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before first use fails for a kernel one ulp off in one element, and for one
    whose square root is one ulp off; the step then runs the torch calls, with the reason."""
    _kernel_or_skip(name)
    module = MODULES[name]
    kernel = module.fused_kernel()
    assert module._fused_agrees(kernel)  # (the real one passes the same check)
    assert not module._fused_agrees(_nudged(kernel, name))

    address = SQRT_ONE_ULP_UP
    assert not module._fused_agrees(type(kernel)(kernel._library, address))

    monkeypatch.setattr(_native, LOADERS[name].__name__, lambda: _nudged(kernel, name))
    monkeypatch.setattr(_native, "_REASONS", {})
    monkeypatch.setattr(module, "_FUSED_REASON", [])
    unchecked = module.fused_kernel.__wrapped__
    monkeypatch.setattr(module, "fused_kernel", lambda: unchecked())
    assert module.fused_kernel() is None
    assert "does not reproduce" in (module.fused_unavailable_reason() or "")
    hparams = _hparams(name, GRIDS[name][:4], scheduled=False)
    state_fused = _run_plain(name, hparams)
    assert state_fused._plan is not None and state_fused._plan.kernel is None


def _run_plain(name: str, hparams: list[dict[str, Any]]) -> Any:
    info = get_optimizer(name)
    assert info.init_state is not None and info.step is not None
    params = [torch.randn(len(hparams), 9)]
    state = info.init_state(params, hparams)
    info.step(params, [torch.randn(len(hparams), 9)], state)
    return state


def test_the_kernel_is_built_here() -> None:
    """Where a C compiler is on PATH (every machine this project's setup targets), the
    kernels are built and pass their checks: otherwise the fast path would silently vanish."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on PATH: the torch calls are used instead")
    for module in MODULES.values():
        assert module.fused_kernel() is not None, module.fused_unavailable_reason()


@pytest.mark.parametrize("name", NAMES)
def test_fused_false_keeps_the_torch_calls(name: str) -> None:
    state = _run_plain_with(name, fused=False)
    assert state._plan is None


def _run_plain_with(name: str, *, fused: bool) -> Any:
    info = get_optimizer(name)
    assert info.init_state is not None and info.step is not None
    hparams = [info.validate({})]
    params = [torch.randn(1, 9)]
    state = info.init_state(params, hparams)
    state.fused = fused
    info.step(params, [torch.randn(1, 9)], state)
    return state


def test_without_a_compiler_the_torch_calls_give_the_same_curves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No compiler (and nothing cached): :func:`_native.load_rms` says why and returns
    None, and training falls back to the torch calls with the kernels' curves."""
    for name in NAMES:
        _kernel_or_skip(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(_native, "_REASONS", {})  # (the reason below stays in this test)
    assert _native.load_rms.__wrapped__() is None
    assert "could not be built" in (_native.unavailable_reason("rms") or "")
    for library in ("nadam", "radam"):
        assert getattr(_native, f"load_{library}").__wrapped__() is None
        assert "could not be built" in (_native.unavailable_reason(library) or "")

    data = DataSpec(name="friedman3", n=120, train_fraction=0.75)
    groups = [
        [
            RunConfig(
                optimizer=optimizer, hparams=hparams, batch_size=16, epochs=3, seed=seed, data=data
            )
            for hparams, seed in ((first, 1), (second, 2))
        ]
        for optimizer, first, second in (
            ("rmsprop", {"lr": 0.001, "momentum": 0.9}, {"lr": 0.003, "centered": True}),
            ("adagrad", {"lr": 0.05, "lr_decay": 0.01}, {"initial_accumulator_value": 0.1}),
            (
                "nadam",
                {"weight_decay": 0.01},
                {"decoupled_weight_decay": True, "weight_decay": 0.1},
            ),
        )
    ]
    with_kernel = [train_vectorized(group) for group in groups]
    for name, module in MODULES.items():
        monkeypatch.setattr(module, "fused_kernel", LOADERS[name].__wrapped__)  # None
    for group, records in zip(groups, with_kernel, strict=True):
        without = train_vectorized(group)
        assert [r.curve.valid_loss for r in records] == [r.curve.valid_loss for r in without]
        assert [r.curve.train_loss for r in records] == [r.curve.train_loss for r in without]


@pytest.mark.parametrize(
    ("library", "stem"),
    [("rms", "fused_rms-"), ("nadam", "fused_nadam-"), ("radam", "fused_radam-")],
)
def test_a_fresh_cache_builds_its_own_library(
    library: str, stem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on PATH")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kernel = getattr(_native, f"load_{library}").__wrapped__()
    assert kernel is not None, _native.unavailable_reason(library)
    assert [p.name.startswith(stem) for p in (tmp_path / "optiscope").iterdir()] == [True]


@pytest.mark.parametrize("name", NAMES)
def test_state_tensors_replaced_between_steps_are_the_ones_updated(name: str) -> None:
    """The kernel holds the state's addresses: a state whose tensors were replaced (as a
    restore might) is bound again, so the new tensors are updated."""
    info = get_optimizer(name)
    extra = {"momentum": 0.9, "centered": True} if name == "rmsprop" else {}
    hparams = [info.validate({"lr": 0.01, **extra}), info.validate({"lr": 0.001})]
    runs = []
    for fused in (True, False):
        generator = torch.Generator().manual_seed(5)
        params = [torch.randn(2, 40, generator=generator)]
        assert info.init_state is not None and info.step is not None
        state = info.init_state(params, hparams)
        state.fused = fused
        grads = [torch.empty_like(params[0])]
        for step in range(6):
            grads[0].copy_(torch.randn(2, 40, generator=generator))
            if step == 3:
                fields = ("square_avg", "grad_avg", "momentum_buffer", "sum", "exp_avg")
                for field in (*fields, "exp_avg_sq"):
                    if getattr(state, field, None) is not None:
                        setattr(state, field, [t.clone() for t in getattr(state, field)])
            info.step(params, grads, state)
        runs.append(TENSORS[name](params, [], state))
    _assert_same(runs[0], runs[1], name)


# Each FMA the kernels use, and each product they do not fuse, written the other way: the
# check before first use must refuse every one (it compares against the torch calls, so
# this is also the measurement of which torch ops round once on this CPU).
MUTATIONS = {
    "rmsprop": [
        ("gj = fmaf(p[j], wd, gj);", "gj = p[j] * wd + gj;"),  # g.add(p, alpha=wd)
        ("vj = fmaf(w * gj, gj, vj);", "vj = (w * gj) * gj + vj;"),  # v.addcmul_
        ("fmaf(coeff, gj - gaj, small ? gaj : gj)", "coeff * (gj - gaj) + (small ? gaj : gj)"),
        ("x = fmaf(-next, next, vj)", "x = -next * next + vj"),  # addcmul(value=-1)
        ("pb[j] = fmaf(bj, neg_lr, pb[j]);", "pb[j] = bj * neg_lr + pb[j];"),  # add_(alpha=)
        (
            "const float bj = bb[j] * mu + grad[j] / (buf[j] + eps);",  # mul_, then addcdiv_
            "const float bj = fmaf(bb[j], mu, grad[j] / (buf[j] + eps));",
        ),
        (  # addcdiv_(value=-lr): (value * g) / d
            "pb[j] = pb[j] + (neg_lr * grad[j]) / (buf[j] + eps);",
            "pb[j] = pb[j] + neg_lr * (grad[j] / (buf[j] + eps));",
        ),
    ],
    "adagrad": [
        ("if (mode & DECAY) gj = fmaf(p[i], wd, gj);", "if (mode & DECAY) gj = p[i] * wd + gj;"),
        ("fmaf(gj, gj, s[i])", "gj * gj + s[i]"),  # s.addcmul_(g, g, value=1)
        ("(neg_clr * grad[j]) / (buf[j] + eps)", "neg_clr * (grad[j] / (buf[j] + eps))"),
    ],
    "nadam": [
        ("if (l2) gj = fmaf(pj, wd, gj);", "if (l2) gj = pj * wd + gj;"),  # g.add(p, alpha=)
        ("fmaf(coeff, gj - mj, small ? mj : gj)", "coeff * (gj - mj) + (small ? mj : gj)"),
        ("vj = fmaf(c2 * gj, gj, vj);", "vj = (c2 * gj) * gj + vj;"),  # v.addcmul_
        ("const float x = vj / bias2;", "const float x = vj * (1.0f / bias2);"),  # v.div
        ("pb[j] + (cg * grad[j]) / d;", "pb[j] + cg * (grad[j] / d);"),  # addcdiv_(value=)
        ("pj + (cm * mb[j]) / d;", "pj + cm * (mb[j] / d);"),
    ],
    "radam": [
        ("if (l2) gj = fmaf(pj, wd, gj);", "if (l2) gj = pj * wd + gj;"),  # g.add(p, alpha=)
        ("vj = fmaf(c2 * gj, gj, vj);", "vj = (c2 * gj) * gj + vj;"),  # v.addcmul_
        ("pb[j] = pb[j] - (mb[j] / bias1) * lr;", "pb[j] = pb[j] - mb[j] * (lr / bias1);"),
        ("(1.0f / (buf[j] + eps)) * sb2", "sb2 / (buf[j] + eps)"),  # reciprocal_, then mul_
        (
            "pb[j] - (((mb[j] / bias1) * lr) * adaptive) * rect;",  # (update * adaptive) * rect
            "pb[j] - ((mb[j] / bias1) * lr) * (adaptive * rect);",
        ),
    ],
}
SOURCES = {"rmsprop": _native.RMS_SOURCE, "adagrad": _native.RMS_SOURCE}
SOURCES["nadam"], SOURCES["radam"] = _native.NADAM_SOURCE, _native.RADAM_SOURCE


@pytest.mark.parametrize("name", NAMES)
def test_the_check_refuses_each_operation_rounded_otherwise(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _kernel_or_skip(name)
    module, kernel = MODULES[name], MODULES[name].fused_kernel()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # (the changed builds)
    source = SOURCES[name].read_text()
    for number, (ours, other) in enumerate(MUTATIONS[name]):
        assert source.count(ours) == 1, ours
        changed = tmp_path / f"{number}" / SOURCES[name].name
        changed.parent.mkdir()
        changed.write_text(source.replace(ours, other))
        library = ctypes.CDLL(str(_native._build(changed, "changed")))
        assert not module._fused_agrees(type(kernel)(library, kernel.vsqrt)), other


@pytest.mark.parametrize("name", ["rmsprop", "nadam", "radam"])
def test_the_square_root_of_nan_inf_and_negative_numbers_is_torchs(name: str) -> None:
    """The kernels hand NaN, infinite and negative numbers (a diverged config's state) to
    sqrtf instead of MKL's slow path: the values stay torch.sqrt's (NaN as NaN, +inf, and
    -0.0 kept as -0.0), in blocks with and without such numbers."""
    _kernel_or_skip(name)
    kernel = MODULES[name].fused_kernel()
    generator = torch.Generator().manual_seed(9)
    values = torch.rand(5000, generator=generator) * 10.0  # (5000,): past four blocks
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -1.0, -0.0, 0.0])
    where = torch.randint(0, 3000, (300,), generator=generator)  # (the last blocks: none)
    values[where] = special[torch.randint(0, 6, (300,), generator=generator)]
    expected, got = torch.sqrt(values), kernel.sqrt(values)
    nan = expected.isnan()
    assert torch.equal(nan, got.isnan())
    assert torch.equal(expected[~nan], got[~nan])
    assert torch.equal(expected[~nan].signbit(), got[~nan].signbit())  # (-0.0 stays -0.0)
