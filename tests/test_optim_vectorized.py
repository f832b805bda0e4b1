"""Vectorized optimizers against torch.optim, step by step, parameters and state, bit for bit.

K configurations with different hyperparameters are stacked along a leading axis and stepped
at once; each slice must equal what ``torch.optim`` (single-tensor path, as on CPU by default)
does to one unstacked copy. Gradients span many magnitudes, down to values whose squares are
subnormal, so the slow paths of sqrt and the fused multiply-adds are exercised.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from optiscope.errors import ConfigError
from optiscope.optim import OPTIMIZERS, StepLrs, get_optimizer, matches_reference

SHAPES = [(50, 4), (50,), (50, 50), (1, 50), (1,), (3, 7, 5)]
STEPS = 12

GRIDS: dict[str, list[dict[str, Any]]] = {
    "adamw": [
        {"lr": lr, "betas": (b1, b2), "weight_decay": wd, "eps": eps}
        for lr, b1, b2, wd, eps in itertools.product(
            (1.0, 0.01), (0.5, 0.9, 0.999), (0.99, 0.9999), (0.0, 0.5), (1e-8, 1e-3)
        )
    ],
    "adam": [
        {"lr": lr, "betas": (b1, b2), "weight_decay": wd}
        for lr, b1, b2, wd in itertools.product(
            (0.1, 0.001), (0.0, 0.9), (0.5, 0.999), (0.0, 0.01, 0.25)
        )
    ],
    "sgd": [
        {"lr": 0.05, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        {"lr": 0.05, "momentum": 0.0, "dampening": 0.5, "weight_decay": 0.1, "nesterov": False},
        {"lr": 0.01, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        {"lr": 0.01, "momentum": 0.9, "dampening": 0.9, "weight_decay": 0.0, "nesterov": False},
        {"lr": 0.2, "momentum": 0.5, "dampening": 0.0, "weight_decay": 0.01, "nesterov": True},
        {"lr": 0.2, "momentum": 0.99, "dampening": 0.0, "weight_decay": 0.0, "nesterov": True},
        {"lr": 1e-4, "momentum": 0.3, "dampening": 0.1, "weight_decay": 0.5, "nesterov": False},
    ],
    # every mix in one stack: centered or not, momentum or not, L2 decay or not
    "rmsprop": [
        {"lr": lr, "alpha": alpha, "momentum": mu, "centered": centered, "weight_decay": wd}
        for lr, alpha, mu, centered, wd in itertools.product(
            (0.01, 1e-4), (0.0, 0.9, 0.99), (0.0, 0.9), (False, True), (0.0, 0.1)
        )
    ]
    + [{"lr": 0.1, "eps": 0.0}, {"lr": 0.1, "eps": 1e-3, "centered": True}],
    "adagrad": [
        {"lr": lr, "lr_decay": decay, "weight_decay": wd, "initial_accumulator_value": init}
        for lr, decay, wd, init in itertools.product(
            (1.0, 0.01), (0.0, 0.01, 0.5), (0.0, 0.1), (0.0, 0.1)
        )
    ]
    + [{"lr": 0.1, "eps": 0.0}, {"lr": 0.1, "eps": 1e-3, "initial_accumulator_value": 1.0}],
    # L2 or decoupled decay, with and without it, and momentum_decay away from its default
    "nadam": [
        {"lr": lr, "betas": betas, "weight_decay": wd, "momentum_decay": psi,
         "decoupled_weight_decay": decoupled}
        for lr, betas, wd, psi, decoupled in itertools.product(
            (1.0, 0.01), ((0.9, 0.999), (0.0, 0.5)), (0.0, 0.1), (4e-3, 0.1), (False, True)
        )
    ] + [{"lr": 0.1, "eps": 0.0}, {"lr": 0.1, "eps": 1e-3, "betas": (0.5, 0.9)}],
    # beta2 0.999: rectified from step 6; 0.9: from step 3 on; 0.5: never (rho_inf = 3)
    "radam": [
        {"lr": lr, "betas": (b1, b2), "weight_decay": wd, "decoupled_weight_decay": decoupled}
        for lr, b1, b2, wd, decoupled in itertools.product(
            (1.0, 0.01), (0.0, 0.9), (0.5, 0.9, 0.999), (0.0, 0.1), (False, True)
        )
    ] + [{"lr": 0.1, "eps": 0.0}, {"lr": 0.1, "eps": 1e-3}],
    "adamax": [
        {"lr": lr, "betas": betas, "weight_decay": wd, "eps": eps}
        for lr, betas, wd, eps in itertools.product(
            (1.0, 0.002), ((0.9, 0.999), (0.0, 0.5)), (0.0, 0.1), (1e-8, 1e-3)
        )
    ] + [{"lr": 0.1, "eps": 0.0}],
}  # fmt: skip

VECTORIZABLE = sorted(name for name, info in OPTIMIZERS.items() if info.vectorizable)


def _gradients(generator: torch.Generator, k: int) -> list[torch.Tensor]:
    """Gradients for K configs; each config and parameter gets its own scale (1e-25 .. 1e3)."""
    grads = []
    for shape in SHAPES:
        values = torch.randn((k, *shape), generator=generator)
        exponents = torch.randint(-25, 4, (k,) + (1,) * len(shape), generator=generator)
        grads.append(values * torch.pow(10.0, exponents.float()))
    return grads


def _hparams(name: str) -> list[dict[str, Any]]:
    info = get_optimizer(name)
    return [info.validate(values) for values in GRIDS[name]]


def _torch_state(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> Mapping[str, Any]:
    return optimizer.state[param]


def _assert_same(ours: torch.Tensor, theirs: torch.Tensor, where: str) -> None:
    """Bit for bit as numbers: no tolerance; NaN where torch has NaN (0/0 with eps = 0)."""
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True, msg=where)


@pytest.mark.parametrize("name", VECTORIZABLE)
def test_every_vectorizable_optimizer_has_a_grid(name: str) -> None:
    assert GRIDS.get(name), f"add hyperparameter sets for {name!r} to GRIDS"


@pytest.mark.parametrize("name", VECTORIZABLE)
def test_vectorized_step_equals_torch_optim_bit_for_bit(name: str) -> None:
    info = get_optimizer(name)
    hparams = _hparams(name)
    k = len(hparams)
    generator = torch.Generator().manual_seed(7)
    start = [torch.randn((k, *shape), generator=generator) for shape in SHAPES]

    stacked = [p.clone() for p in start]
    assert info.init_state is not None and info.step is not None
    state = info.init_state(stacked, hparams)
    singles = []
    for config, values in enumerate(hparams):
        params = [p[config].clone().requires_grad_() for p in start]
        singles.append((params, info.make_torch(params, values)))

    for step in range(1, STEPS + 1):
        grads = _gradients(generator, k)
        info.step(stacked, grads, state)
        for config, (params, optimizer) in enumerate(singles):
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad[config].clone()
            optimizer.step()
            for index, param in enumerate(params):
                where = f"step {step}, config {hparams[config]}, param {SHAPES[index]}"
                _assert_same(stacked[index][config], param.detach(), where)
                _assert_state_equal(name, state, index, config, optimizer, param, where)


def _scheduled(hparams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid with lrs that change every step: configs 0, 3, 6, ... decay geometrically
    from their lr, 1, 4, 7, ... share one ramp (a Distinct key shared by many), the rest
    keep their constant lr (a mix of floats and StepLrs in one stack)."""
    ramp = StepLrs([1e-3 * 1.7**t for t in range(STEPS)])
    out = []
    for i, values in enumerate(hparams):
        lr = values["lr"]
        if i % 3 == 0:
            values = {**values, "lr": StepLrs([lr * 0.83**t for t in range(STEPS)])}
        elif i % 3 == 1:
            values = {**values, "lr": ramp}
        out.append(values)
    return out


@pytest.mark.parametrize("name", VECTORIZABLE)
@pytest.mark.parametrize("shared", [False, True], ids=["mixed", "one-schedule"])
def test_a_per_step_lr_equals_torch_optim_with_lr_set_before_each_step(
    name: str, shared: bool
) -> None:
    """A scheduler sets ``group["lr"]`` between steps; a :class:`StepLrs` lr is read at each
    step. Params and state equal torch's, bit for bit, for a mixed stack and for K configs
    that share one schedule (the per-step value then is one Python scalar, as torch's)."""
    info = get_optimizer(name)
    hparams = _scheduled(_hparams(name))
    if shared:
        ramp = hparams[1]["lr"]
        hparams = [{**values, "lr": ramp} for values in hparams]
    k = len(hparams)
    generator = torch.Generator().manual_seed(17)
    start = [torch.randn((k, *shape), generator=generator) for shape in SHAPES]
    stacked = [p.clone() for p in start]
    assert info.init_state is not None and info.step is not None
    state = info.init_state(stacked, hparams)
    singles = []
    for config, values in enumerate(hparams):
        params = [p[config].clone().requires_grad_() for p in start]
        singles.append((params, info.make_torch(params, {**values, "lr": 0.5})))
    assert any(isinstance(values["lr"], StepLrs) for values in hparams)
    for step in range(1, STEPS + 1):
        grads = _gradients(generator, k)
        info.step(stacked, grads, state)
        for config, (params, optimizer) in enumerate(singles):
            lr = hparams[config]["lr"]
            optimizer.param_groups[0]["lr"] = lr.at(step) if isinstance(lr, StepLrs) else lr
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad[config].clone()
            optimizer.step()
            for index, param in enumerate(params):
                where = f"step {step}, config {config}: {hparams[config]}, param {SHAPES[index]}"
                _assert_same(stacked[index][config], param.detach(), where)
                _assert_state_equal(name, state, index, config, optimizer, param, where)
    assert matches_reference(info, hparams)


@pytest.mark.parametrize("name", VECTORIZABLE)
def test_reference_step_equals_torch_optim_bit_for_bit(name: str) -> None:
    """The reference step (what the vectorized step is held to on each device before a
    group trains) is torch.optim's single-tensor update, step by step."""
    info = get_optimizer(name)
    assert info.reference_step is not None
    generator = torch.Generator().manual_seed(11)
    for values in _hparams(name):
        start = [torch.randn(shape, generator=generator) for shape in SHAPES]
        ours = [p.clone() for p in start]
        theirs = [p.clone().requires_grad_() for p in start]
        optimizer = info.make_torch(theirs, values)
        state: dict[str, Any] = {}
        for step in range(1, STEPS + 1):
            grads = [g[0] for g in _gradients(generator, 1)]
            info.reference_step(ours, [g.clone() for g in grads], state, values)
            for param, grad in zip(theirs, grads, strict=True):
                param.grad = grad.clone()
            optimizer.step()
            for mine, param in zip(ours, theirs, strict=True):
                _assert_same(mine, param.detach(), f"step {step}, {values}")


@pytest.mark.parametrize("name", VECTORIZABLE)
def test_the_device_check_accepts_every_vectorized_step_here(name: str) -> None:
    info = get_optimizer(name)
    assert matches_reference(info, _hparams(name))
    assert matches_reference(info, _hparams(name)[:1])  # one config: shared values as scalars


def test_the_exercise_momentum_passes_the_device_check_too() -> None:
    from optiscope.optim import MOMENTUM

    hparams = [MOMENTUM.validate({"lr": lr, "beta": b}) for lr in (0.1, 0.001) for b in (0, 0.9)]
    assert MOMENTUM.vectorizable and matches_reference(MOMENTUM, hparams)


def test_the_device_check_refuses_a_step_one_ulp_off() -> None:
    """A vectorized step that rounds one element differently, as a kernel on another device
    might, is caught before anything trains with it."""
    adamw = get_optimizer("adamw")
    assert adamw.step is not None
    exact_step = adamw.step

    def off_by_one_ulp(params: Any, grads: Any, state: Any) -> None:
        exact_step(params, grads, state)
        params[0].view(-1)[5].nextafter_(torch.tensor(math.inf))

    broken = dataclasses.replace(adamw, step=off_by_one_ulp)
    assert not matches_reference(broken, _hparams("adamw"))


def _assert_state_equal(
    name: str,
    state: Any,
    index: int,
    config: int,
    optimizer: torch.optim.Optimizer,
    param: torch.Tensor,
    where: str,
) -> None:
    theirs = _torch_state(optimizer, param)
    if name in ("adam", "adamw"):
        _assert_same(state.exp_avg[index][config], theirs["exp_avg"], where)
        _assert_same(state.exp_avg_sq[index][config], theirs["exp_avg_sq"], where)
        assert float(theirs["step"]) == state.step
    elif name == "sgd":
        buffer = theirs.get("momentum_buffer")
        if buffer is not None:
            _assert_same(state.momentum_buffer[index][config], buffer, where)
    elif name == "rmsprop":
        _assert_same(state.square_avg[index][config], theirs["square_avg"], where)
        for ours, key in ((state.grad_avg, "grad_avg"), (state.momentum_buffer, "momentum_buffer")):
            if key in theirs:  # torch keeps it only for configs that use it
                assert ours is not None
                _assert_same(ours[index][config], theirs[key], where)
    elif name == "adagrad":
        _assert_same(state.sum[index][config], theirs["sum"], where)
        assert float(theirs["step"]) == state.step
    elif name in ("nadam", "radam"):
        _assert_same(state.exp_avg[index][config], theirs["exp_avg"], where)
        _assert_same(state.exp_avg_sq[index][config], theirs["exp_avg_sq"], where)
        assert float(theirs["step"]) == state.step
        if name == "nadam":  # the float32 running product of the momentum schedule
            key = (state.beta1[config], state.momentum_decay[config])
            assert state.products[key].at(state.step) == theirs["mu_product"].item(), where
    elif name == "adamax":
        _assert_same(state.exp_avg[index][config], theirs["exp_avg"], where)
        _assert_same(state.exp_inf[index][config], theirs["exp_inf"], where)
        assert float(theirs["step"]) == state.step
    else:  # pragma: no cover - a new optimizer needs its state compared here
        pytest.fail(f"compare the state of {name!r} in _assert_state_equal")


@pytest.mark.parametrize("name", VECTORIZABLE)
def test_one_config_equals_a_single_run(name: str) -> None:
    """K = 1 is the plain optimizer: the stacked axis changes nothing."""
    info = get_optimizer(name)
    hparams = _hparams(name)[-1:]
    generator = torch.Generator().manual_seed(3)
    param = torch.randn(1, 10, generator=generator)
    single = param[0].clone().requires_grad_()
    optimizer = info.make_torch([single], hparams[0])
    assert info.init_state is not None and info.step is not None
    state = info.init_state([param], hparams)
    for _ in range(5):
        grad = torch.randn(1, 10, generator=generator)
        info.step([param], [grad], state)
        single.grad = grad[0].clone()
        optimizer.step()
    assert torch.equal(single.detach(), param[0])


@pytest.mark.parametrize("name", VECTORIZABLE)
def test_keeps_dtype_and_reduces_a_parabola(name: str) -> None:
    """Registry-wide: every vectorized optimizer keeps float32 and descends f(p) = |p|^2."""
    info = get_optimizer(name)
    hparams = [info.validate({"lr": 0.05}), info.validate({"lr": 0.01})]
    params = [torch.full((2, 3), 2.0)]
    assert info.init_state is not None and info.step is not None
    state = info.init_state(params, hparams)
    for _ in range(50):
        info.step(params, [2 * params[0]], state)
    assert params[0].dtype == torch.float32
    assert bool((params[0].abs() < 2.0).all())


def test_adam_with_eps_zero_and_tiny_second_moments() -> None:
    """Subnormal and zero second moments with eps = 0: 0/0 gives NaN, as in torch."""
    info = get_optimizer("adamw")
    hparams = [info.validate({"eps": 0.0, "lr": 0.1})]
    param = torch.ones(1, 4)
    single = param[0].clone().requires_grad_()
    optimizer = info.make_torch([single], hparams[0])
    assert info.init_state is not None and info.step is not None
    state = info.init_state([param], hparams)
    # squares: 0 (underflow), subnormal, 0 (0/0 = NaN, as in torch), 1
    grad = torch.tensor([[1e-30, 1e-22, 0.0, 1.0]])
    for _ in range(3):
        info.step([param], [grad], state)
        single.grad = grad[0].clone()
        optimizer.step()
    _assert_same(param[0], single.detach(), "eps = 0")


@pytest.mark.parametrize(
    ("eps", "beta2", "clamped"),
    [(1e-8, 0.9999, True), (1e-3, 0.9999, True), (1e-30, 0.9999, False), (0.0, 0.9999, False),
     (1e-8, 0.5, True), (1e-30, 0.5, False)],
)  # fmt: skip
def test_the_sqrt_clamp_is_used_only_where_it_changes_no_bit(
    eps: float, beta2: float, clamped: bool
) -> None:
    """``sqrt(max(v, FLT_MIN))`` replaces ``sqrt(v)`` only where adding eps hides the
    difference; with a tiny eps it would not (zero or subnormal second moments with a
    nonzero first moment: ``m / eps`` against ``m / 1e-17``), so the plain sqrt runs and
    torch is matched."""
    from optiscope.optim._adam import _clamp_is_exact

    info = get_optimizer("adamw")
    hparams = [info.validate({"eps": eps, "betas": (0.9, beta2)})]
    assert _clamp_is_exact([beta2], [eps]) is clamped
    assert _clamp_is_exact([beta2], [eps], reciprocal=True) is clamped  # as on CUDA
    param = torch.ones(1, 4)
    single = param[0].clone().requires_grad_()
    optimizer = info.make_torch([single], hparams[0])
    assert info.init_state is not None and info.step is not None
    state = info.init_state([param], hparams)
    # Squares that underflow to zero (v = 0, m != 0), and with beta2 = 0.5 one subnormal v.
    grad = torch.tensor([[1e-25, 1e-40, 0.0, 1e-21]])
    for step in range(3):
        info.step([param], [grad], state)
        single.grad = grad[0].clone()
        optimizer.step()
        if step == 0 and beta2 == 0.5:
            v = state.exp_avg_sq[0][0, 3].item()
            assert 0 < v < torch.finfo(torch.float32).tiny  # subnormal
    _assert_same(param[0], single.detach(), f"eps = {eps}, beta2 = {beta2}")


def test_per_step_scalars_are_computed_in_blocks_that_double() -> None:
    """A short run (a fused kernel's 4-step check) computes one small table, a long one a
    table every BLOCK steps, and in between each table reaches twice as far as the last;
    the tables tile the steps with no gap."""
    from optiscope.optim._base import BLOCK, FIRST_BLOCK, block_from

    starts, step = [], 1
    while step <= 4 * BLOCK:
        starts.append(step)
        step += block_from(step)
    assert starts[1] == 1 + FIRST_BLOCK
    for start, after in itertools.pairwise([*starts[1:], step]):
        assert after - start == BLOCK or after == 2 * start  # [start, 2 start)
    assert [b - a for a, b in itertools.pairwise(starts)][-2:] == [BLOCK, BLOCK]


def test_mismatched_config_count_is_refused() -> None:
    info = get_optimizer("adamw")
    assert info.init_state is not None
    with pytest.raises(ValueError, match="2 hyperparameter sets"):
        info.init_state([torch.zeros(3, 2)], [info.validate({}), info.validate({})])


def test_unknown_optimizer_still_lists_the_registry() -> None:
    with pytest.raises(ConfigError, match="adamw"):
        get_optimizer("lion")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_hyperparameters_have_torchs_names_and_defaults(name: str) -> None:
    """Each schema names a subset of the torch class's arguments, with torch's defaults."""
    import inspect

    info = get_optimizer(name)
    parameters = inspect.signature(info.torch_class).parameters
    for spec in info.hparams:
        assert spec.name in parameters, f"{info.title} has no argument {spec.name!r}"
        assert spec.default == parameters[spec.name].default, spec.name


@pytest.mark.parametrize(
    ("name", "values", "match"),
    [
        ("rmsprop", {"alpha": 1.0}, r"`alpha` = 1.0 is outside \[0, 1\); RMSprop needs 0 <= alpha"),
        ("rmsprop", {"momentum": -0.1}, r"`momentum` = -0.1 is outside \[0, 1\)"),
        ("rmsprop", {"centered": 1}, r"`centered` = 1 must be True or False"),
        ("rmsprop", {"lr": 0.0, "eps": -1e-8}, r"`lr` = 0.0 is outside \(0, inf\).*`eps` = -1e-08"),
        ("rmsprop", {"betas": (0.9, 0.99)}, "`betas` is not a hyperparameter of RMSprop"),
        ("adagrad", {"lr_decay": -0.5}, r"`lr_decay` = -0.5 is outside \[0, inf\)"),
        ("adagrad", {"initial_accumulator_value": -1}, "`initial_accumulator_value` = -1 is"),
        ("adagrad", {"momentum": 0.9}, "`momentum` is not a hyperparameter of Adagrad"),
    ],
)  # fmt: skip
def test_rmsprop_and_adagrad_check_every_value_before_running(
    name: str, values: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        get_optimizer(name).validate(values)
