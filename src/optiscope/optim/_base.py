"""What every optimizer declares: its hyperparameters, their checks, its torch class.

Capabilities are data (STYLE.md 4): callers ask ``info.vectorizable``, never compare names.

Vectorized updates train K configurations at once. Their parameters are stacked along a
leading axis (``(K, *param_shape)``), and each configuration's hyperparameters are entries of
per-config columns, as optax's ``inject_hyperparams`` keeps them in the state. An update is
two functions:

- ``init_state(params, hparams) -> state``: ``params`` a list of stacked tensors, ``hparams``
  K validated hyperparameter dicts (one per configuration, see :meth:`OptimizerInfo.validate`);
- ``step(params, grads, state) -> None``: update ``params`` (and ``state``) in place.

A config's ``lr`` may change with the step (an lr schedule, an lr range test): its
``hparams["lr"]`` is then a :class:`StepLrs`, the lr of every step, which the update reads at
each step (as torch's optimizers read ``group["lr"]``, which a scheduler sets between steps).

Each is exact, element for element, against the ``torch.optim`` class on one configuration
(its default single-tensor CPU path): the same float32 operations in the same order, with the
scalars torch computes in Python doubles computed the same way and rounded once to float32.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import torch
from torch import Tensor

from optiscope.errors import ConfigError
from optiscope.settings import check_number

__all__ = [
    "ColumnCache",
    "Distinct",
    "Flags",
    "HParamSpec",
    "InitState",
    "Lr",
    "OptimizerInfo",
    "ReferenceStep",
    "StepLrs",
    "VectorizedStep",
    "check_stacked",
    "config_column",
    "lr_at",
    "lrs_of",
    "select_where",
    "weight_decayed",
]

Kind = Literal["float", "bool", "betas"]

InitState: TypeAlias = Callable[[Sequence[Tensor], Sequence[Mapping[str, Any]]], Any]
"""``init_state(params, hparams)``: the state of K configs; params ``(K, *shape)`` each."""
VectorizedStep: TypeAlias = Callable[[Sequence[Tensor], Sequence[Tensor], Any], None]
"""``step(params, grads, state)``: one in-place update of every stacked parameter."""
ReferenceStep: TypeAlias = Callable[
    [Sequence[Tensor], Sequence[Tensor], dict[str, Any], Mapping[str, Any]], None
]
"""``reference_step(params, grads, state, hparams)``: one in-place update of one config's
(unstacked) parameters, written with the calls and Python scalars of ``torch.optim``'s
single-tensor path; ``state`` is a dict it keeps its own state in (empty at first)."""


class StepLrs:
    """The lr of each optimizer step of one config: ``values[t - 1]`` at step ``t``.

    Hashable by value (the hash is computed once), so configs that share a schedule share
    their per-step columns (see :class:`Distinct`). Steps past the end keep the last lr.

    Args:
        values: the lr of steps ``1, 2, ...`` as Python floats (what a scheduler puts in
            ``group["lr"]``).
    """

    __slots__ = ("_hash", "values")

    def __init__(self, values: Sequence[float]) -> None:
        if not values:
            raise ValueError("StepLrs needs the lr of at least one step")
        self.values: tuple[float, ...] = tuple(float(v) for v in values)
        self._hash = hash(self.values)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StepLrs) and (
            self is other or (self._hash == other._hash and self.values == other.values)
        )

    def __repr__(self) -> str:
        return f"StepLrs({len(self.values)} steps, {self.values[0]:g} .. {self.values[-1]:g})"

    def at(self, step: float) -> float:
        """The lr of step ``step`` (counting from 1)."""
        return self.values[min(int(step), len(self.values)) - 1]


Lr: TypeAlias = float | StepLrs
"""A config's lr: one value for every step, or :class:`StepLrs`."""


def lr_at(lr: Lr, step: float) -> float:
    """The lr a config uses at step ``step`` (counting from 1)."""
    return lr.at(step) if isinstance(lr, StepLrs) else lr


def lrs_of(hparams: Sequence[Mapping[str, Any]]) -> tuple[Lr, ...]:
    """The K configs' lrs: Python floats, or :class:`StepLrs` where the lr changes."""
    return tuple(h["lr"] if isinstance(h["lr"], StepLrs) else float(h["lr"]) for h in hparams)


def config_column(values: Sequence[float], like: Tensor) -> Tensor:
    """Per-config scalars as a column that broadcasts over stacked tensors like ``like``.

    Python floats (doubles) become ``like.dtype`` by one rounding, exactly as a ``torch.optim``
    kernel rounds the Python scalar it is given.

    Args:
        values: one value per config (K of them).
        like: a stacked tensor ``(K, *shape)``.

    Returns:
        A tensor ``(K, 1, ..., 1)`` with ``like.dim()`` dimensions, on ``like.device``.
    """
    column = torch.tensor(list(values), dtype=like.dtype, device=like.device)
    return column.view(-1, *([1] * (like.dim() - 1)))  # (K, 1, ..., 1)


Values = Sequence[float] | Callable[[], Sequence[float]]
"""Per-config values, or a function that makes them (called once, when first needed)."""


class Flags:
    """Per-config booleans, summarized once: whether all or any are set, and the mask.

    A step asks these every time; computing them from K Python values at each step costs
    more than the step itself on small tensors (a 4,096-cell map).

    Args:
        flags: one boolean per config.
    """

    def __init__(self, flags: Sequence[bool]) -> None:
        self.values = tuple(bool(flag) for flag in flags)
        self.all = all(self.values)
        self.any = any(self.values)
        self._masks: dict[tuple[int, torch.device], Tensor] = {}

    def mask(self, like: Tensor) -> Tensor:
        """The flags as a boolean column ``(K, 1, ..., 1)`` for ``like`` (made once)."""
        key = (like.dim(), like.device)
        mask = self._masks.get(key)
        if mask is None:
            mask = torch.tensor(self.values, device=like.device)
            mask = mask.view(-1, *([1] * (like.dim() - 1)))  # (K, 1, ..., 1)
            self._masks[key] = mask
        return mask


@dataclass
class ColumnCache:
    """Per-config columns and flags made once per optimizer state and reused at every step.

    Optimizer states derive from it (its fields are keyword-only, so they come after theirs).
    """

    columns: dict[tuple[str, int], Tensor] = field(default_factory=dict, repr=False, kw_only=True)
    flag_sets: dict[str, Flags] = field(default_factory=dict, repr=False, kw_only=True)
    distinct: dict[str, Distinct] = field(default_factory=dict, repr=False, kw_only=True)

    def lr_column(
        self,
        name: str,
        lrs: Sequence[Lr],
        fn: Callable[[float], float],
        step: int,
        like: Tensor,
    ) -> Tensor | float:
        """``fn(lr)`` of each config's lr at ``step``, as a column shaped for ``like``.

        Without a :class:`StepLrs` among ``lrs`` the column is made once (see
        :meth:`column`); otherwise it is looked up per step (see :meth:`Distinct.column_at`),
        and is one Python float when every config has the same lrs, as torch passes it.
        """
        if not any(isinstance(lr, StepLrs) for lr in lrs):
            return self.column(name, lambda: [fn(lr) for lr in lrs], like)  # type: ignore[arg-type]
        distinct = self.distinct.setdefault(name, Distinct(list(lrs)))
        return distinct.column_at(name, lambda lr, t: fn(lr_at(lr, t)), step, like)

    def column(self, name: str, values: Values, like: Tensor) -> Tensor:
        """A cached column of per-config values shaped for ``like`` (see
        :func:`config_column`), one per name and rank; ``values`` may be a function, so a
        derived list (``1 - beta``) is built once, not at every step."""
        key = (name, like.dim())
        column = self.columns.get(key)
        if column is None:
            column = config_column(values() if callable(values) else values, like)
            self.columns[key] = column
        return column

    def flags(self, name: str, make: Callable[[], Sequence[bool]]) -> Flags:
        """Cached per-config flags (``weight_decay != 0``...), made by ``make`` once."""
        flags = self.flag_sets.get(name)
        if flags is None:
            flags = self.flag_sets[name] = Flags(make())
        return flags


def check_stacked(params: Sequence[Tensor], hparams: Sequence[Mapping[str, Any]]) -> None:
    """Check that every stacked parameter has one slice per hyperparameter set.

    Raises:
        ValueError: when a parameter's leading size is not ``len(hparams)``.
    """
    sizes = {int(p.shape[0]) for p in params}
    if sizes != {len(hparams)}:
        raise ValueError(
            f"stacked parameters have leading sizes {sorted(sizes)} but {len(hparams)} "
            "hyperparameter sets were given; stack one slice per config."
        )


BLOCK = 256
"""The most steps whose per-step scalars are computed together."""

FIRST_BLOCK = 8
"""The steps of the first such block."""


def block_from(step: int) -> int:
    """How many steps' scalars to compute at once from ``step`` (counting from 1): ``step``
    itself, at least :data:`FIRST_BLOCK` and at most :data:`BLOCK`, so tables cover steps
    1-8, 9-17, 18-35, 36-71, ... (each reaching twice as far as it starts) and then 256 at
    a time. A short run (the 4-step check of a fused kernel before first use) computes a
    few rows instead of 256; a long one still computes a table every 256 steps."""
    return min(BLOCK, max(FIRST_BLOCK, step))


class Distinct:
    """The distinct values among K per-config keys, and which one each config has.

    Per-step scalars (bias corrections) depend on a few hyperparameters that configs often
    share; computing them once per distinct value keeps a step's Python work independent of K.

    Args:
        keys: one hashable key per config, such as ``(lr, beta1)``.
    """

    def __init__(self, keys: Sequence[Hashable]) -> None:
        self.values: list[Any] = list(dict.fromkeys(keys))
        position = {value: i for i, value in enumerate(self.values)}
        self._index = [position[key] for key in keys]
        self._blocks: dict[tuple[str, int, torch.device], tuple[int, Tensor]] = {}

    def table(
        self, fn: Callable[[Any, float], float], first: int, count: int, dtype: torch.dtype
    ) -> Tensor:
        """``fn(key, step)`` for ``count`` steps from ``first`` (rows) and each config
        (columns), computed in Python doubles and rounded once to ``dtype``: ``(count, K)``,
        contiguous, each row what :meth:`column_at` gives for its step."""
        rows = [[fn(value, float(s)) for value in self.values] for s in range(first, first + count)]
        return torch.tensor(rows, dtype=dtype)[:, self._index].contiguous()  # (count, K)

    def column_at(
        self, name: str, fn: Callable[[Any, float], float], step: int, like: Tensor
    ) -> Tensor | float:
        """``fn(key, step)`` for each config, as a column like :func:`config_column` gives,
        or as one Python float when every config has the same key.

        Computed in Python doubles for up to :data:`BLOCK` steps at a time (one rounding
        to ``like.dtype`` each, see :func:`block_from`), so a step only looks its row up.

        Args:
            name: what ``fn`` computes (the cache key, with the rank and device).
            fn: the value for one distinct key at one step (``step`` as a Python float, as
                torch reads its step counter).
            step: the step, counting from 1.
            like: a stacked tensor ``(K, *shape)``.
        """
        if len(self.values) == 1:
            return fn(self.values[0], float(step))
        key = (name, like.dim(), like.device)
        first, table = self._blocks.get(key, (0, like.new_empty(0)))
        if not first <= step < first + table.shape[0]:
            count = block_from(step)
            rows = [
                [fn(value, float(s)) for value in self.values] for s in range(step, step + count)
            ]
            block = torch.tensor(rows, dtype=like.dtype, device=like.device)  # (count, U)
            index = torch.tensor(self._index, device=like.device)
            table = block[:, index].view(count, -1, *([1] * (like.dim() - 1)))
            first = step
            self._blocks[key] = (first, table)  # (count, K, 1, ..., 1)
        return table[step - first]


def select_where(flags: Sequence[bool] | Flags, if_true: Tensor, if_false: Tensor) -> Tensor:
    """Per config, ``if_true`` where its flag is set and ``if_false`` elsewhere.

    Used where ``torch.optim`` skips an operation for some configs (``weight_decay == 0``,
    ``momentum == 0``): the skipped configs keep their value bit for bit, even when it is not
    finite. Returns ``if_true`` itself when every flag is set and ``if_false`` when none is.
    Pass cached :class:`Flags` (see :meth:`ColumnCache.flags`) from a step.
    """
    if not isinstance(flags, Flags):
        flags = Flags(flags)
    if flags.all:
        return if_true
    if not flags.any:
        return if_false
    return torch.where(flags.mask(if_true), if_true, if_false)


def weight_decayed(
    p: Tensor,
    g: Tensor,
    cache: ColumnCache,
    *,
    lrs: Sequence[Lr],
    weight_decay: Sequence[float],
    decoupled: Sequence[bool],
    step: int,
) -> Tensor:
    """Weight decay of K configs as ``torch.optim``'s NAdam and RAdam apply it: where
    ``wd != 0``, ``p.mul_(1 - lr * wd)`` (decoupled, ``p`` changed in place) or
    ``g = g.add(p, alpha=wd)`` (L2). Returns the gradient to go on with.

    The decoupled factor is ``1.0`` for configs without it (``x * 1.0`` is ``x``, bit for
    bit) and is read per step when an lr changes with the step.
    """
    if any(wd != 0 and d for wd, d in zip(weight_decay, decoupled, strict=True)):
        keys = [
            (lr, wd if d else 0.0) for lr, wd, d in zip(lrs, weight_decay, decoupled, strict=True)
        ]
        distinct = cache.distinct.setdefault("decoupled decay", Distinct(keys))
        p.mul_(distinct.column_at("decoupled decay", _decay_factor, step, p))
    l2 = [wd != 0 and not d for wd, d in zip(weight_decay, decoupled, strict=True)]
    if any(l2):
        wd_column = cache.column(
            "l2", [wd if f else 0.0 for wd, f in zip(weight_decay, l2, strict=True)], p
        )
        g = select_where(l2, torch.addcmul(g, p, wd_column), g)  # (K, *shape)
    return g


def _decay_factor(lr_wd: tuple[Lr, float], t: float) -> float:
    return 1 - lr_at(lr_wd[0], t) * lr_wd[1]


def reference_decayed(
    p: Tensor, g: Tensor, lr: float, weight_decay: float, decoupled: bool
) -> Tensor:
    """Weight decay of one config as ``torch.optim``'s Adam, NAdam and RAdam write it (the
    reference of :func:`weight_decayed`): where ``wd != 0``, ``p.mul_(1 - lr * wd)``
    (decoupled, ``p`` changed in place) or ``g = g.add(p, alpha=wd)`` (L2). Returns the
    gradient to go on with."""
    if weight_decay != 0:
        if decoupled:
            p.mul_(1 - lr * weight_decay)
        else:
            g = g.add(p, alpha=weight_decay)
    return g


def update_moments(
    m: Tensor,
    v: Tensor,
    g: Tensor,
    cache: ColumnCache,
    *,
    beta1: Sequence[float],
    beta2: Sequence[float],
) -> None:
    """Adam's two moments of K configs, in place, op for op as torch's single-tensor path::

        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)

    with per-config columns (``addcmul_(g, g, value=c)`` as ``addcmul_(g * c, g)``: torch's
    kernel forms ``value * t1`` first, so both round the same)."""
    m.lerp_(g, cache.column("1-beta1", lambda: [1 - b for b in beta1], m))
    v.mul_(cache.column("beta2", beta2, v))
    v.addcmul_(g * cache.column("1-beta2", lambda: [1 - b for b in beta2], v), g)


@dataclass(frozen=True)
class HParamSpec:
    """One hyperparameter: torch's name, its default and its allowed range."""

    name: str
    default: Any
    kind: Kind = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    doc: str = ""

    def check(self, value: Any, optimizer: str) -> list[str]:
        if self.kind == "bool":
            if isinstance(value, bool):
                return []
            return [f"`{self.name}` = {value!r} must be True or False"]
        if self.kind == "betas":
            if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
                return [f"`betas` = {value!r} must be a pair (beta1, beta2)"]
            problems: list[str] = []
            for i, beta in enumerate(value, start=1):
                problems += check_number(
                    f"beta{i}",
                    beta,
                    low=0.0,
                    high=1.0,
                    high_open=True,
                    needs=f"{optimizer} needs 0 <= beta{i} < 1",
                )
            return problems
        interval = _describe(self)
        return check_number(
            self.name,
            value,
            low=self.low,
            high=self.high,
            low_open=self.low_open,
            high_open=self.high_open,
            needs=f"{optimizer} needs {interval}" if interval else "",
        )

    def normalize(self, value: Any) -> Any:
        if self.kind == "betas":
            return (float(value[0]), float(value[1]))
        if self.kind == "bool":
            return bool(value)
        return float(value)


def _describe(spec: HParamSpec) -> str:
    parts = []
    if spec.low is not None:
        parts.append(f"{spec.low:g} {'<' if spec.low_open else '<='} ")
    parts.append(spec.name)
    if spec.high is not None:
        parts.append(f" {'<' if spec.high_open else '<='} {spec.high:g}")
    return "".join(parts) if len(parts) > 1 else ""


@dataclass(frozen=True)
class OptimizerInfo:
    """A registered optimizer.

    Attributes:
        name: registry name (``adamw``).
        title: display name (``AdamW``).
        torch_class: the ``torch.optim`` class that is the reference for this optimizer.
        hparams: hyperparameters in torch's spelling, with defaults and ranges.
        summary: one line for listings.
        extra_checks: checks across hyperparameters (``nesterov`` needs ``momentum > 0``...),
            returning problem texts.
        init_state: vectorized state for K stacked configs (``None``: not vectorizable); see
            the module docstring for the contract.
        step: vectorized in-place update of stacked parameters.
        reference_step: the same update for one config as ``torch.optim`` writes it (the
            tests hold it to ``torch_class`` bit for bit; before a group trains, the
            vectorized step is held to it on the group's device).
    """

    name: str
    title: str
    torch_class: type[torch.optim.Optimizer]
    hparams: tuple[HParamSpec, ...]
    summary: str = ""
    extra_checks: Callable[[Mapping[str, Any]], list[str]] | None = None
    init_state: InitState | None = field(default=None, repr=False)
    step: VectorizedStep | None = field(default=None, repr=False)
    reference_step: ReferenceStep | None = field(default=None, repr=False)

    @property
    def vectorizable(self) -> bool:
        """Whether K configs of this optimizer can train as one stacked update (which needs
        the update, its state, and a reference step to check it against)."""
        return (
            self.init_state is not None
            and self.step is not None
            and self.reference_step is not None
        )

    @property
    def defaults(self) -> dict[str, Any]:
        return {spec.name: spec.default for spec in self.hparams}

    def problems(self, values: Mapping[str, Any]) -> list[str]:
        """Every problem with ``values`` (unknown names, wrong types, out-of-range values)."""
        return self.problems_of_each([values])[0]

    def problems_of_each(self, configs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """:meth:`problems` of each of many sets of values, checking each distinct value of
        each name once (a 64 x 64 sensitivity map's 4,096 cells share 64 values per axis)."""
        known = {spec.name: spec for spec in self.hparams}
        memo: dict[tuple[str, type, Any], list[str]] = {}
        result = []
        for values in configs:
            problems = [
                f"`{name}` is not a hyperparameter of {self.title}; it takes: {', '.join(known)}"
                for name in values
                if name not in known
            ]
            checked = {}
            for name, value in values.items():
                if name not in known:
                    continue
                key = (name, type(value), value)  # the type too: 1 == 1.0 == True
                try:
                    found = memo[key]
                except KeyError:
                    found = memo[key] = known[name].check(value, self.title)
                except TypeError:  # an unhashable value (a list): checked each time
                    found = known[name].check(value, self.title)
                problems += found
                if not found:
                    checked[name] = value
            if self.extra_checks is not None:  # on the values that passed their own checks
                problems += self.extra_checks({**self.defaults, **checked})
            result.append(problems)
        return result

    def validate(self, values: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
        """Complete ``values`` with defaults and check them all at once.

        Args:
            values: hyperparameters in torch spelling (a subset; defaults fill the rest).
            where: prefix for messages, such as ``"config 3 of 12: "``.

        Returns:
            Every hyperparameter, normalized (floats, a ``(beta1, beta2)`` tuple).

        Raises:
            ConfigError: listing every problem, and saying that nothing was run.
        """
        problems = self.problems(values)
        if problems:
            raise ConfigError(f"{where}{'; '.join(problems)}. Nothing was run.")
        return self.complete(values)

    def complete(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Already-checked ``values`` completed with defaults and normalized (no checks:
        for values :meth:`problems` found nothing wrong with)."""
        merged = {**self.defaults, **values}
        return {spec.name: spec.normalize(merged[spec.name]) for spec in self.hparams}

    def make_torch(
        self, params: Iterable[Tensor], hparams: Mapping[str, Any]
    ) -> torch.optim.Optimizer:
        """The reference ``torch.optim`` optimizer with these hyperparameters.

        ``foreach=False`` is passed where the class takes it: the single-tensor path is what
        the CPU uses by default, and the vectorized updates are exact against it.
        """
        return self.torch_class(params, **dict(hparams), foreach=False)  # type: ignore[call-arg]
