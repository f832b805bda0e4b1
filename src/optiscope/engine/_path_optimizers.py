"""Which optimizer walks a 2-D path: a registered one, any ``torch.optim`` class, or a function.

Users name optimizers in several ways; :func:`resolve_optimizer` turns each into one
:class:`PathOptimizer`, checked before anything runs:

- ``"adam lr=0.1"`` (the command line's syntax: a name, then ``key=value`` pairs; a value is a
  number, ``true``/``false``, or a comma-separated tuple such as ``betas=0.9,0.99``);
- ``torch.optim.Adam`` or ``(torch.optim.Adam, {"lr": 0.1})``: any ``torch.optim`` class;
- ``"momentum"``: the exercise's momentum from scratch (:class:`optiscope.optim.ExerciseMomentum`);
- a step function ``step(position, grad, state, **hparams)`` (see :data:`STEP_FUNCTION_HELP`),
  alone or as ``(step, {"lr": 0.01})``.

Registered optimizers (:data:`PATH_OPTIMIZERS`) are validated by their schema and, being
vectorizable, can fill a sensitivity map. A registered torch class given a setting its schema
lacks (``amsgrad=True``, ``maximize=True``) runs as torch runs it, like any other class.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from optiscope.errors import ConfigError
from optiscope.grammar import parse_named
from optiscope.optim import MOMENTUM, OPTIMIZERS, OptimizerInfo

__all__ = [
    "PATH_OPTIMIZERS",
    "STEP_FUNCTION_HELP",
    "PathOptimizer",
    "StepFunction",
    "format_hparams",
    "parse_optimizer_text",
    "resolve_optimizer",
]

#: Registered optimizers usable on landscapes: the training registry plus the exercise's momentum.
PATH_OPTIMIZERS: Mapping[str, OptimizerInfo] = {**OPTIMIZERS, MOMENTUM.name: MOMENTUM}


def batched_names() -> str:
    """The registered optimizers that can run many configs as one batched computation (a
    sensitivity map), for messages: ``"adamw, adam, ..., momentum"``."""
    return ", ".join(name for name, info in PATH_OPTIMIZERS.items() if info.vectorizable)


StepFunction = Callable[..., Any]

STEP_FUNCTION_HELP = """\
A step function moves the point one step:

    def step(position, grad, state, lr=0.01, beta=0.9):
        v = state.setdefault("v", torch.zeros_like(position))
        v.mul_(beta).add_(grad, alpha=1 - beta)
        return position - lr * v

- position: the current point, a tensor of shape (2,) (a copy: changing it changes nothing);
- grad: the gradient of the function there, shape (2,);
- state: a dict that is empty at the first step and kept between steps;
- keyword arguments: its hyperparameters; pass values with (step, {"lr": 0.1});
- return: the new position, shape (2,).

In a sensitivity map the same function runs for all cells at once: position and grad are
(C, 2) and each hyperparameter is a (C, 1) tensor of the position's dtype, so write it with
tensor operations. Arithmetic on a hyperparameter (1 - beta) then rounds in float32 where a
race rounds it in double, so a map cell can differ from its race in the last bits; the
registered optimizers' maps are exact."""


@dataclass(frozen=True)
class PathOptimizer:
    """One optimizer for 2-D runs, validated.

    Attributes:
        name: registry name (``adam``), class name, or function name.
        title: display name (``Adam``).
        hparams: the keyword arguments it is built or called with (complete for registered
            optimizers, as given otherwise).
        given: the names the user set, shown in the label.
        torch_class: the ``torch.optim`` class, or ``None`` for a step function.
        step_function: the user's step function, or ``None``.
        info: the registry entry, when registered (it says whether it is vectorizable).
        label_override: a label chosen by the user.
    """

    name: str
    title: str
    hparams: tuple[tuple[str, Any], ...]
    given: tuple[str, ...] = ()
    torch_class: type[torch.optim.Optimizer] | None = None
    step_function: StepFunction | None = field(default=None, compare=False)
    info: OptimizerInfo | None = field(default=None, compare=False, repr=False)
    label_override: str | None = None

    @property
    def hparam_dict(self) -> dict[str, Any]:
        return dict(self.hparams)

    @property
    def label(self) -> str:
        """``Adam (lr=0.1)``: the title, the hyperparameters the user set, and a weight decay
        that is on by default (AdamW's 0.01), since it changes where the optimizer ends."""
        if self.label_override:
            return self.label_override
        shown = {k: v for k, v in self.hparams if k in self.given or (k == "weight_decay" and v)}
        return f"{self.title} ({format_hparams(shown)})" if shown else self.title

    @property
    def lr(self) -> float | None:
        """The learning rate, when it has one (decoupled weight decay needs it)."""
        value = self.hparam_dict.get("lr")
        if value is None and self.torch_class is not None:
            default = inspect.signature(self.torch_class).parameters.get("lr")
            value = None if default is None else default.default
        return float(value) if isinstance(value, int | float) else None

    @property
    def vectorizable(self) -> bool:
        """Whether many configs can run as one batched computation (a sensitivity map)."""
        return self.step_function is not None or (self.info is not None and self.info.vectorizable)

    @property
    def needs_closure(self) -> bool:
        """Whether its ``step`` re-evaluates the function itself (``torch.optim.LBFGS``)."""
        if self.torch_class is None:
            return False
        closure = inspect.signature(self.torch_class.step).parameters.get("closure")
        return closure is not None and closure.default is inspect.Parameter.empty

    def with_label(self, label: str | None) -> PathOptimizer:
        return self if label is None else _replace(self, label_override=label)

    def build(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        """The ``torch.optim`` optimizer over ``params`` (only for ``torch_class`` ones)."""
        if self.torch_class is None:
            raise TypeError(f"{self.title} is a step function, not a torch optimizer")
        return self.torch_class(params, **self.hparam_dict)


def _replace(optimizer: PathOptimizer, **changes: Any) -> PathOptimizer:
    values = {name: getattr(optimizer, name) for name in optimizer.__dataclass_fields__}
    values.update(changes)
    return PathOptimizer(**values)


def format_hparams(hparams: Mapping[str, Any]) -> str:
    """``lr=0.1, betas=(0.9, 0.99)``: short, stable text for labels and tables."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, float | int):
            return f"{value:g}"
        if isinstance(value, tuple | list):
            return "(" + ", ".join(text(v) for v in value) + ")"
        return str(value)

    return ", ".join(f"{key}={text(value)}" for key, value in hparams.items())


#: How an optimizer is written, for the grammar's messages.
OPTIMIZER_EXAMPLE = "'momentum lr=0.01 beta=0.9' or 'adam lr=0.1 betas=0.9,0.99'"


def parse_optimizer_text(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``"adam lr=0.1 betas=0.9,0.99"`` into ``("adam", {"lr": 0.1, "betas": (0.9, 0.99)})``
    with the one grammar of :func:`optiscope.grammar.parse_named`.

    Raises:
        ConfigError: for an empty text or a piece that is not ``key=value``.
    """
    return parse_named(text, example=OPTIMIZER_EXAMPLE)


def _runs_on_a_point(cls: type[torch.optim.Optimizer]) -> bool:
    """Whether ``cls`` can be built over one ``(2,)`` parameter with its defaults (Muon needs
    2-D matrices; a class whose ``lr`` has no default is given a trial one)."""
    lr = inspect.signature(cls).parameters.get("lr")
    needs_lr = lr is not None and lr.default is inspect.Parameter.empty
    try:
        trial: dict[str, Any] = {"lr": 0.1} if needs_lr else {}
        cls([torch.zeros(2, requires_grad=True)], **trial)
    except Exception:  # any refusal means it cannot walk a 2-D path
        return False
    return True


@functools.cache
def _torch_classes() -> dict[str, type[torch.optim.Optimizer]]:
    """Every ``torch.optim`` optimizer class that can walk a 2-D point, by lower-case name
    (SparseAdam needs sparse grads; Muon needs matrices)."""
    classes = {}
    for name, value in vars(torch.optim).items():
        if (
            isinstance(value, type)
            and issubclass(value, torch.optim.Optimizer)
            and value is not torch.optim.Optimizer
            and name != "SparseAdam"
            and _runs_on_a_point(value)
        ):
            classes[name.lower()] = value
    return classes


def _map_betas(info: OptimizerInfo, hparams: dict[str, Any]) -> dict[str, Any]:
    """Accept the exercise's ``beta1``/``beta2`` for optimizers that take ``betas``."""
    if "betas" not in info.defaults or not ({"beta1", "beta2"} & set(hparams)):
        return hparams
    if "betas" in hparams:
        raise ConfigError(
            f"{info.title}: give either betas=... or beta1/beta2, not both (got {hparams})."
        )
    beta1, beta2 = info.defaults["betas"]
    mapped = {k: v for k, v in hparams.items() if k not in ("beta1", "beta2")}
    mapped["betas"] = (hparams.get("beta1", beta1), hparams.get("beta2", beta2))
    return mapped


def _in_schema(info: OptimizerInfo, hparams: Mapping[str, Any]) -> bool:
    """Whether every name is one of the registered schema's (or the exercise's beta1/beta2)."""
    known = set(info.defaults) | ({"beta1", "beta2"} if "betas" in info.defaults else set())
    return set(hparams) <= known


def _registered(info: OptimizerInfo, hparams: Mapping[str, Any], where: str) -> PathOptimizer:
    hparams = _map_betas(info, dict(hparams))
    values = info.validate(hparams, where=where)
    return PathOptimizer(
        name=info.name,
        title=info.title,
        hparams=tuple(values.items()),
        given=tuple(hparams),
        torch_class=info.torch_class,
        info=info,
    )


def _generic_torch(
    cls: type[torch.optim.Optimizer], hparams: Mapping[str, Any], where: str
) -> PathOptimizer:
    accepted = [n for n in inspect.signature(cls).parameters if n != "params"]
    unknown = [n for n in hparams if n not in accepted]
    if unknown:
        raise ConfigError(
            f"{where}{cls.__name__} has no hyperparameter {', '.join(map(repr, unknown))}; it "
            f"takes: {', '.join(accepted)}. Nothing was run."
        )
    for key, value in hparams.items():  # torch accepts lr=inf and eps=nan: we do not
        numbers = value if isinstance(value, tuple | list) else (value,)
        if any(
            isinstance(v, float) and not isinstance(v, bool) and not math.isfinite(v)
            for v in numbers
        ):
            raise ConfigError(
                f"{where}{cls.__name__}: `{key}` = {value!r} must be finite. Nothing was run."
            )
    try:  # torch checks its own values when the optimizer is built
        cls([torch.zeros(2, requires_grad=True)], **hparams)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}{cls.__name__}({format_hparams(hparams)}): {err}.") from err
    return PathOptimizer(
        name=cls.__name__.lower(),
        title=cls.__name__,
        hparams=tuple(hparams.items()),
        given=tuple(hparams),
        torch_class=cls,
    )


def _step_function(fn: StepFunction, hparams: Mapping[str, Any], where: str) -> PathOptimizer:
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        positional = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        keywords = [p.name for p in list(signature.parameters.values())[3:]]
        if len(positional) != 3:
            raise ConfigError(
                f"{where}step function {name}{signature} must take (position, grad, state) and "
                f"then its hyperparameters as keyword arguments.\n{STEP_FUNCTION_HELP}"
            )
        unknown = [k for k in hparams if k not in keywords]
        if unknown and not takes_kwargs:
            raise ConfigError(
                f"{where}step function {name} has no argument {', '.join(map(repr, unknown))}; "
                f"it takes: {', '.join(keywords) or 'no hyperparameters'}."
            )
        defaults = {
            p.name: p.default
            for p in list(signature.parameters.values())[3:]
            if p.default is not p.empty and p.kind != p.VAR_KEYWORD
        }
    else:
        defaults = {}
    return PathOptimizer(
        name=name,
        title=name,
        hparams=tuple({**defaults, **hparams}.items()),
        given=tuple(hparams),
        step_function=fn,
    )


def resolve_optimizer(spec: Any, *, where: str = "") -> PathOptimizer:
    """Turn any accepted way of naming an optimizer into a validated :class:`PathOptimizer`.

    Args:
        spec: ``"adam lr=0.1"``, ``"momentum"``, a ``torch.optim`` class, a step function, a
            pair ``(any of these, {hyperparameters})`` or a :class:`PathOptimizer`.
        where: prefix for error messages (``"optimizer 2 of 4: "``).

    Returns:
        The optimizer, with its hyperparameters checked.

    Raises:
        ConfigError: for an unknown name, an unknown hyperparameter, or a bad value.
    """
    if isinstance(spec, PathOptimizer):
        return spec
    hparams: dict[str, Any] = {}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        spec, hparams = spec[0], dict(spec[1])
    if isinstance(spec, str):
        name, parsed = parse_optimizer_text(spec)
        hparams = {**parsed, **hparams}
        key = name.lower()
        if key in PATH_OPTIMIZERS and _in_schema(PATH_OPTIMIZERS[key], hparams):
            # before _torch_classes(): building torch's optimizers imports torch._dynamo,
            # seconds in a fresh process that a registered name does not need
            return _registered(PATH_OPTIMIZERS[key], hparams, where)
        classes = _torch_classes()
        if key in PATH_OPTIMIZERS:
            info = PATH_OPTIMIZERS[key]
            # a torch setting the schema lacks (amsgrad, maximize): run torch's class as is
            if key in classes:
                return _generic_torch(classes[key], hparams, where)
            return _registered(info, hparams, where)
        if key in classes:
            return _generic_torch(classes[key], hparams, where)
        raise ConfigError(
            f"{where}unknown optimizer {name!r}; choose one of: {', '.join(PATH_OPTIMIZERS)} "
            f"or any torch.optim class ({', '.join(sorted(set(classes) - set(PATH_OPTIMIZERS)))})."
        )
    if isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        for info in PATH_OPTIMIZERS.values():
            if info.torch_class is spec and _in_schema(info, hparams):
                return _registered(info, hparams, where)
        return _generic_torch(spec, hparams, where)  # as torch runs it, with every setting
    if callable(spec):
        return _step_function(spec, hparams, where)
    raise ConfigError(
        f"{where}{spec!r} is not an optimizer; pass a name such as 'adam lr=0.1', a torch.optim "
        "class, (torch.optim.Adam, {'lr': 0.1}), or a step function step(position, grad, state)."
    )
