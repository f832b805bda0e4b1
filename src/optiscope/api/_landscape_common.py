"""Argument checks shared by the landscape functions (races, weight decay, sensitivity maps)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from optiscope.engine import PathOptimizer, resolve_optimizer
from optiscope.errors import ConfigError
from optiscope.landscapes import Landscape, Point, parse_landscape

__all__ = [
    "DTYPES",
    "check_dtype",
    "check_one_decay",
    "check_start",
    "check_start_value",
    "check_steps",
    "check_tol",
    "progress_bar",
    "resolve_landscape",
    "resolve_optimizers",
]

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}

LandscapeArg = str | Landscape


def resolve_landscape(fn: LandscapeArg) -> Landscape:
    """A :class:`Landscape`, a name (``"himmelblau"``) or a name with parameters
    (``"rosenbrock a=1 b=2"``).

    Raises:
        ConfigError: for an unknown name or parameter.
    """
    if isinstance(fn, Landscape):
        return fn
    if isinstance(fn, str):
        return parse_landscape(fn)
    raise ConfigError(
        f"fn = {fn!r} is not a test function; pass a name such as 'rosenbrock', "
        "'rosenbrock a=1 b=2', or a Landscape (optiscope.landscapes.get_landscape)."
    )


def check_steps(steps: Any, name: str = "steps") -> int:
    """Raise :class:`ConfigError` unless ``steps`` is a positive integer."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"`{name}` = {steps!r} must be a whole number >= 1, e.g. {name}=500.")
    return steps


def check_tol(tol: Any) -> float:
    """Raise :class:`ConfigError` unless ``tol`` is a finite number > 0."""
    if (
        isinstance(tol, bool)
        or not isinstance(tol, int | float)
        or not math.isfinite(tol)
        or not tol > 0
    ):
        raise ConfigError(f"tol = {tol!r} must be a finite number > 0, e.g. tol=1e-3.")
    return float(tol)


def check_one_decay(optimizer: PathOptimizer, weight_decay: float, run: str) -> None:
    """Refuse a run-level decay on top of an optimizer's own nonzero ``weight_decay``: the two
    would add up (AdamW's default 0.01 plus the run's) without anyone asking for that.

    Args:
        optimizer: the resolved optimizer.
        weight_decay: the decay the run adds to every optimizer.
        run: what adds it, for the message (``"the race"``).
    """
    own = optimizer.hparam_dict.get("weight_decay", 0)
    if weight_decay and own:
        raise ConfigError(
            f"{optimizer.label} has its own weight_decay = {own:g} and {run} adds "
            f"weight_decay = {weight_decay:g} on top; give one of them: set the optimizer's "
            f"to 0 ('{optimizer.name} ... weight_decay=0') to use the run's, or leave the "
            "run's at 0. Nothing was run."
        )


def check_start(start: Any, landscape: Landscape) -> Point:
    """The start point: the landscape's when ``None``, else two finite numbers.

    Raises:
        ConfigError: for anything that is not two finite numbers.
    """
    if start is None:
        return landscape.start
    if isinstance(start, torch.Tensor):
        start = start.tolist()
    ok = (
        isinstance(start, Sequence)
        and not isinstance(start, str)
        and len(start) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in start)
        and all(math.isfinite(v) for v in start)
    )
    if not ok:
        raise ConfigError(
            f"start = {start!r} must be two finite numbers (x, y), e.g. start=(-1, 2); "
            f"{landscape.title}'s default is {landscape.start}."
        )
    return (float(start[0]), float(start[1]))


def check_start_value(
    landscape: Landscape, start: Point, dtype: torch.dtype, *, dtype_choice: bool = True
) -> None:
    """Raise :class:`ConfigError` unless the start and the function's value there are finite
    in ``dtype`` (a run from there would diverge at step 0, with no position to show).

    Args:
        landscape: the function.
        start: the start point (already checked by :func:`check_start`).
        dtype: the dtype the run will use.
        dtype_choice: whether the caller can choose ``dtype="float64"`` (the message says so).
    """
    position = torch.tensor(start, dtype=dtype)  # (2,)
    with torch.no_grad():
        value = landscape(position[0], position[1])
    if bool(torch.isfinite(position).all()) and bool(torch.isfinite(value)):
        return
    name = str(dtype).removeprefix("torch.")
    fix = "choose a start nearer the minimum or smaller parameters"
    if dtype_choice and dtype != torch.float64:
        fix += ", or use dtype='float64'"
    raise ConfigError(
        f"{landscape.label} at the start ({start[0]:g}, {start[1]:g}) is {float(value):g} in "
        f"{name}: not a finite "
        f"number, so the run could not take a step; {fix}. Nothing was run."
    )


def check_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` or the torch dtype itself."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ConfigError(f"dtype = {dtype!r} is not supported; choose 'float32' or 'float64'.")


def _is_single(optimizers: Any) -> bool:
    """One optimizer (a name, a class, a function or a ``(spec, {settings})`` pair), not a list."""
    if isinstance(optimizers, str | type) or callable(optimizers):
        return True
    return (
        isinstance(optimizers, tuple)
        and len(optimizers) == 2
        and isinstance(optimizers[1], Mapping)
    )


def resolve_optimizers(optimizers: Any) -> list[PathOptimizer]:
    """Resolve every optimizer, reporting all problems at once; labels are made unique.

    Args:
        optimizers: one optimizer, a sequence of them, or a mapping ``{label: optimizer}``.

    Raises:
        ConfigError: listing every optimizer that could not be resolved; nothing is run.
    """
    if isinstance(optimizers, Mapping):
        items: list[tuple[str | None, Any]] = [(str(k), v) for k, v in optimizers.items()]
    elif _is_single(optimizers):
        items = [(None, optimizers)]
    else:
        items = [(None, spec) for spec in optimizers]
    if not items:
        raise ConfigError(
            "no optimizers given; pass at least one, e.g. ['momentum', 'adam lr=0.1']."
        )
    resolved, problems = [], []
    for number, (label, spec) in enumerate(items, start=1):
        try:
            resolved.append(resolve_optimizer(spec).with_label(label))
        except ConfigError as err:
            text = str(err).removesuffix(" Nothing was run.")
            problems.append(f"optimizer {number} of {len(items)}: {text}")
    if problems:
        raise ConfigError(" ".join(problems) + " Nothing was run.")
    seen: dict[str, int] = {}
    unique = []
    for optimizer in resolved:
        count = seen.get(optimizer.label, 0) + 1
        seen[optimizer.label] = count
        unique.append(
            optimizer if count == 1 else optimizer.with_label(f"{optimizer.label} #{count}")
        )
    return unique


def progress_bar(total: int, desc: str, unit: str = "step") -> Any:
    """A tqdm bar on stderr that leaves no line behind."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
