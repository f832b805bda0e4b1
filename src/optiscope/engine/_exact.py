"""Choosing, per operation and shape, a batched kernel that is exact on this machine.

A stacked operation (``bmm`` over K configs) is only worth having if every slice equals what
the plain model computes (``mm`` on one config). Whether it does depends on the BLAS library,
the CPU and the shapes: on the machine this was written on, MKL gives bit-identical ``bmm``
slices for most shapes, but not for an output layer of 1 unit at 1-3 or 5-7 rows (other
kernels), and only when every slice starts on a 64-byte boundary as a fresh tensor does. A
rule written down for one machine would be wrong on another, so the engine asks the machine:

1. every operation has candidates, fastest first, ending with ``per_model`` (the plain
   model's own call, once per config, on slices laid out like fresh tensors); a candidate
   binds all its arguments once, so a training step is a list of prepared calls;
2. before training, :func:`choose` runs each candidate on random inputs placed exactly where
   the real ones will be (same buffers, strides and alignment) and compares the checked
   slices (every alignment class), bit for bit, with the plain call on fresh copies, over at
   least a thousand numbers of mixed magnitudes;
3. the first exact candidate is used; the answer is remembered for the process, shared
   with the other processes of a local pool (:func:`known_choices`, :func:`learn_choices`)
   and, for the CPU, kept on disk for later processes on the same machine and software
   (:func:`save_choices`, :mod:`optiscope.optim._facts`).

For one config the plain call per config is the plain model's call itself and is used
without a probe.

Some probes cost more than their stacked form saves in one run (an operation with one number
per config, a short run): callers probe only where it repays itself
(:func:`repaying_runs`).

If not even ``per_model`` is exact, :class:`InexactError` is raised and the sweep layer trains
those configs with the reference engine instead.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from optiscope.errors import InexactError
from optiscope.optim import machine_facts

__all__ = [
    "Candidate",
    "InexactError",
    "Operand",
    "choose",
    "known_choices",
    "learn_choices",
    "per_model",
    "repaying_runs",
    "save_choices",
]

Bind = Callable[[Sequence[Tensor], Tensor], Callable[[], object]]
"""``bind(inputs, out)``: a call that computes into ``out`` (stacked ``(K, ...)``) from the
stacked ``inputs``, every argument fixed in advance (the training loop only calls it)."""
Single = Callable[[Sequence[Tensor]], Tensor]
"""``single(inputs)``: the plain model's call on one config's (unstacked) inputs."""

_CHOSEN: dict[Hashable, str] = {}
_UNSAVED: set[Hashable] = set()  # answers found (or learnt) here that are not on disk
_FROM_DISK: list[bool] = []  # [True] once this machine's kept answers are read
_KIND = "exact"
_MIN_COMPARED = 1024
_PERIOD = 16
"""Slices after which the 64-byte alignment of slices at a constant float32 stride repeats."""
_ALIGN_BYTES = 64
"""Where torch's CPU allocator starts every tensor: on a multiple of this."""
_DRAWN = torch.float32
"""The dtype the probe draws its random inputs in (copied into the operands' own dtype)."""


RUNS_TO_REPAY = 4
"""Runs of the same work over which a probe whose answer is kept on disk should repay itself.

A kept answer serves every later process on the machine, so the probe is paid once, not once
a run; counting four runs (not every later one) keeps a probe of work that is never run again
from costing much more than it saves."""


def repaying_runs(device: torch.device) -> int:
    """Over how many runs of the same work a probe on ``device`` may count on repaying itself:
    :data:`RUNS_TO_REPAY` where its answer is kept for later processes (on the CPU, with
    answers kept on this machine: :func:`save_choices`), else this run alone."""
    return RUNS_TO_REPAY if device.type == "cpu" and machine_facts() is not None else 1


def known_choices() -> dict[Hashable, str]:
    """What this process has found so far: operation key -> the exact candidate's name.

    The answers depend on the machine and its libraries, not on the process, so a pool's
    workers learn them from each other (:func:`learn_choices`) instead of probing again.
    """
    return dict(_chosen())


def learn_choices(choices: dict[Hashable, str], *, found_here: bool = False) -> None:
    """Take answers found by another process of this machine (see :func:`known_choices`),
    or, with ``found_here``, by this process outside :func:`choose` (kept on disk by
    :func:`save_choices` then; another process keeps its own answers)."""
    chosen = _chosen()
    if found_here:
        _UNSAVED.update(choices)
    chosen.update(choices)


def save_choices() -> None:
    """Keep the answers this process found for the CPU on disk, for later processes on this
    machine (nothing where :func:`optiscope.optim._facts.enabled` is false); answers learnt
    from other processes are kept by those. Called after training; cheap when there is
    nothing new."""
    if not _UNSAVED:
        return
    unsaved = list(_UNSAVED)
    _UNSAVED.clear()
    store = machine_facts()
    if store is None:
        return
    kept: dict[str, object] = {}
    for key in unsaved:
        name = _CHOSEN.get(key)
        if name is not None and isinstance(key, tuple) and "cpu" in key and _literal(key):
            kept[repr(key)] = name
    store.remember(_KIND, kept)


def _chosen() -> dict[Hashable, str]:
    """The answers known to this process, with those kept on disk read in on first use."""
    if not _FROM_DISK:
        _FROM_DISK.append(True)
        store = machine_facts()
        for text, name in ({} if store is None else store.answers(_KIND)).items():
            try:
                key = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(name, str) and isinstance(key, tuple):
                _CHOSEN.setdefault(key, name)
    return _CHOSEN


def _literal(key: tuple[object, ...]) -> bool:
    """Whether ``key`` is written by ``repr`` as a literal that reads back as itself (a
    tuple of numbers, strings, ``None`` and such tuples): only such keys are kept."""
    try:
        return bool(ast.literal_eval(repr(key)) == key)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


@dataclass(frozen=True)
class Candidate:
    """One way to compute a stacked operation."""

    name: str
    bind: Bind


@dataclass(frozen=True)
class Operand:
    """An input of a stacked operation, as the probe fills and slices it.

    Attributes:
        tensor: the buffer the operation will read, ``(K, ...)``: the real workspace buffer
            (its contents are overwritten) or a scratch tensor with the same strides and
            alignment (for parameters and data, which must not be overwritten).
        shared: the K slices are one tensor the plain model reads as it is (a batch of the
            data set, expanded over K): the plain call gets it uncopied, keeping its
            alignment, where every other input is a fresh copy as in the plain model.
        low, high: the probe fills it with uniform values in ``[low, high)``, each scaled
            by a random power of two (see :func:`_random`).
    """

    tensor: Tensor
    shared: bool = False
    low: float = -1.0
    high: float = 1.0


def per_model(single_out: Bind) -> Candidate:
    """The always-available candidate: the plain call once per config, writing each slice.

    Args:
        single_out: binds the plain call for one config's inputs and output slice.
    """

    def bind(inputs: Sequence[Tensor], out: Tensor) -> Callable[[], object]:
        calls = [single_out([t[k] for t in inputs], out[k]) for k in range(out.shape[0])]
        if len(calls) == 1:
            return calls[0]

        def run_all() -> None:
            for call in calls:
                call()

        return run_all

    return Candidate("per_model", bind)


def choose(
    key: Hashable,
    candidates: Sequence[Candidate],
    single: Single,
    operands: Sequence[Operand],
    out: Tensor,
    *,
    trials: int = 1,
) -> Candidate:
    """The first candidate whose every checked slice equals ``single`` bit for bit.

    The operands' buffers are overwritten with random values (call this before training).
    The first :data:`_PERIOD` slices and slice ``K - 1`` get random values and are checked
    (the others are zero). Slices are laid out at a constant stride, in the real buffers and
    in any scratch buffer a candidate keeps, so where each one starts within a 64-byte block
    repeats with a period of at most 16 slices: the unchecked slices repeat checked ones.

    Args:
        key: what the answer depends on (operation, shapes, layout, device); cached by it.
        candidates: fastest first; include :func:`per_model`.
        single: the plain model's operation.
        operands: the inputs, in the order ``run`` and ``single`` take them.
        out: the real output buffer.
        trials: random fills per candidate.

    With :func:`per_model` first, that candidate is taken without a probe for one config
    (``K = 1``), and on the CPU for K configs whose every slice is laid out as a fresh
    tensor: it is then the plain call itself. (A caller puts it first where a probe would
    cost more than the stacked form saves.)

    Raises:
        InexactError: when no candidate is exact.
    """
    by_name = {c.name: c for c in candidates}
    cached = _chosen().get(key)
    if cached is not None and cached in by_name:
        return by_name[cached]
    if candidates[0].name == "per_model" and (
        out.shape[0] == 1 or _slices_laid_out_fresh([*operands, Operand(out)])
    ):
        # The plain call on slices that are laid out as fresh tensors are (the same sizes
        # and strides, starting on 64-byte boundaries: one config's, or the slices of an
        # aligned stack) is the plain model's call itself. Nothing to compare it with (and
        # nothing to remember: a caller that tries a stacked form first for this key gets
        # it probed).
        return candidates[0]
    probe = _Probe(single, operands, out, trials)
    for candidate in candidates:
        if probe.agrees(candidate):
            _CHOSEN[key] = candidate.name
            _UNSAVED.add(key)
            return candidate
    raise InexactError(
        f"no way to compute {key!r} reproduces the plain model's numbers on this machine "
        f"(tried {', '.join(by_name)})."
    )


class _Probe:
    """Random inputs for the checked slices, and the plain call's answers to compare with.

    A trial copies one draw into the checked slices, asks the plain call for each slice's
    answer and runs the candidate. The plain call gets each input as the plain model has it,
    a fresh tensor: on the CPU the drawn slice itself where the operand's slices have a fresh
    tensor's strides (every drawn slice starts on a 64-byte boundary, as a fresh tensor
    does), else a copy of the operand's slice. (Drawn slices save a copy per slice and
    trial: a probe of one number per config makes about a thousand plain calls.)
    """

    BLOCK = 64
    """Trials whose random inputs are drawn at once."""

    def __init__(self, single: Single, operands: Sequence[Operand], out: Tensor, trials: int):
        self.single, self.operands, self.out = single, operands, out
        k = out.shape[0]
        self.checked = sorted({*range(min(k, _PERIOD)), k - 1})
        self.first = min(k, _PERIOD)  # checked: slices [0, first), and k - 1 if beyond
        # Enough trials to compare at least _MIN_COMPARED numbers: two kernels that sum in
        # a slightly different order often agree on most elements (97% for MKL's batched
        # and plain 1 x 64 x 50 products here), so a few dozen equal numbers prove nothing.
        per_trial = max(1, out[0].numel() * len(self.checked))
        self.trials = max(trials, -(-_MIN_COMPARED // per_trial))
        self.generator = torch.Generator().manual_seed(20240611)
        for operand in operands:  # slices that are not checked: zeros, not stale memory
            (operand.tensor[0] if operand.shared else operand.tensor).zero_()
        # (bound once: a trial only copies and calls)
        self.shared = [o.tensor[0] if o.shared else None for o in operands]
        self.heads = [o.tensor[: self.first] for o in operands]
        beyond = len(self.checked) > self.first
        self.lasts = [o.tensor[-1] if beyond and not o.shared else None for o in operands]
        self.index = torch.tensor(self.checked, device=out.device) if beyond else None
        # The plain call gets the drawn slices themselves where they are laid out as the
        # plain model's fresh tensor (a copy of the operand's slice) would be; elsewhere
        # copies of the operand's checked slices.
        self.own_slices = [
            None
            if out.device.type == "cpu"
            and o.tensor.dtype == _DRAWN
            and torch.empty_like(o.tensor[0]).stride() == _fresh_strides(o.tensor.shape[1:])
            else [o.tensor[k] for k in self.checked]
            for o in operands
        ]

    def agrees(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` gives the plain call's numbers in every trial."""
        call = candidate.bind([o.tensor for o in self.operands], self.out)
        for first in range(0, self.trials, self.BLOCK):
            block = min(self.BLOCK, self.trials - first)
            pools = [self._draw(o, block) for o in self.operands]
            for trial in range(block):
                if not self._agrees_once(call, [pool[trial] for pool in pools]):
                    return False
        return True

    def _draw(self, operand: Operand, block: int) -> Tensor:
        """``(block, slices, *shape)`` random values; on the CPU each ``[trial][slice]``
        starts on a 64-byte boundary, laid out as a fresh tensor of the operand's shape."""
        slices = 1 if operand.shared else len(self.checked)
        shape = tuple(operand.tensor.shape[1:])
        values = _random((block, slices, *shape), operand, self.generator)
        if self.out.device.type != "cpu":
            return values.to(self.out.device)
        numel, align = math.prod(shape), _ALIGN_BYTES // values.element_size()
        padded = torch.empty(block * slices, -(-max(numel, 1) // align) * align, dtype=_DRAWN)
        rows = padded[:, :numel]
        rows.copy_(values.view(block * slices, numel))
        return rows.view(block, slices, *shape)

    def _agrees_once(self, call: Callable[[], object], values: Sequence[Tensor]) -> bool:
        """One trial; ``values[i]``: operand ``i``'s draw, ``(slices, *shape)``."""
        singles: list[Sequence[Tensor]] = []  # per operand, what the plain call gets per slice
        for i, drawn in enumerate(values):
            shared = self.shared[i]
            if shared is not None:
                shared.copy_(drawn[0])
                singles.append([shared] * len(self.checked))
                continue
            last = self.lasts[i]
            if last is None:
                self.heads[i].copy_(drawn)
            else:
                self.heads[i].copy_(drawn[: self.first])
                last.copy_(drawn[-1])
            own = self.own_slices[i]
            singles.append([t.clone() for t in own] if own is not None else drawn.unbind(0))
        # The plain call first: a candidate may write over its input (an in-place activation).
        expected = torch.stack([self.single(inputs) for inputs in zip(*singles, strict=True)])
        call()
        answers = self.out if self.index is None else self.out.index_select(0, self.index)
        return torch.equal(expected, answers)


def _fresh_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """The strides of a fresh (contiguous) tensor of ``shape``."""
    return tuple(torch.empty(tuple(shape), device="meta").stride())


def _slices_laid_out_fresh(operands: Sequence[Operand]) -> bool:
    """Whether every slice of the operands that are not shared is laid out as a fresh CPU
    tensor of its shape: the same strides, starting on a 64-byte boundary (torch's CPU
    allocator aligns every tensor so), or is one number (whose place cannot change how it
    is computed)."""
    for operand in operands:
        t = operand.tensor
        if operand.shared or t[0].numel() <= 1:
            continue
        if t.device.type != "cpu" or t[0].stride() != _fresh_strides(t.shape[1:]):
            return False
        if any(t[k].data_ptr() % _ALIGN_BYTES for k in range(t.shape[0])):
            return False
    return True


def _random(shape: Sequence[int], operand: Operand, generator: torch.Generator) -> Tensor:
    """Uniform values in ``[low, high)``, each scaled by a random power of two in
    ``[2**-6, 2**6]``: terms of different magnitudes make a sum's rounding depend on its
    order, so kernels that sum differently show it."""
    values = torch.empty(shape, dtype=_DRAWN).uniform_(
        operand.low, operand.high, generator=generator
    )
    exponents = torch.randint(-6, 7, tuple(shape), generator=generator)
    return values.mul_(torch.pow(2.0, exponents))
