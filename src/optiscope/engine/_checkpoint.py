"""One config's training state at the end of an epoch, and when the engines take one.

A sweep that is interrupted (Ctrl-C, SIGTERM, SIGKILL) should lose at most the epoch in
progress. The engines therefore hand out a :class:`Checkpoint` per config at epoch
boundaries: its parameters, its optimizer state (every tensor and step counter), the epoch
reached and its curve so far. Training resumed from one gives, bit for bit, the curve an
uninterrupted run gives: the parameters and state are exact copies, and the shuffled batch
order of epoch ``e`` is drawn again from the config's seed (each engine replays the
permutations of the epochs already trained, see :func:`skip_epochs`).

A checkpoint is per config, not per group, so a resumed sweep may group configs
differently. It belongs to the engine that wrote it (the vectorized engine's tensors are
rows of its stacked buffers, the reference engine's a ``state_dict``); a checkpoint of
another engine is not used (the config trains from the start, with the same result).

When (:class:`CheckpointPolicy`): at the end of an epoch, once the training since the
previous checkpoint took at least ``1 / max_overhead`` times as long as taking that
checkpoint did (and at least ``min_seconds``). Taking one costs the copies, the encoding and
the caller's callback (in a sweep: the store's write, or the pipe to the coordinator), so
checkpoints cost at most about ``max_overhead`` of the training time; where an epoch takes
longer than that, every epoch is checkpointed. ``benchmarks/bench_checkpoint.py`` measures it.

No torch here beyond taking tensors apart: a checkpoint holds numpy arrays, pickles cheaply
to a worker process and back, and :meth:`Checkpoint.to_bytes` is what the store keeps.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optiscope.records import Curve

__all__ = [
    "EVERY_EPOCH",
    "Checkpoint",
    "CheckpointCallback",
    "CheckpointClock",
    "CheckpointPolicy",
    "optimizer_rows",
    "restore_optimizer_rows",
    "skip_epochs",
    "to_numpy",
]

Scalar = bool | int | float

_MAGIC = b"OSCK"
_FORMAT = 1
_HEADER = struct.Struct(">4sI")  # magic, header length


@dataclass(frozen=True)
class Checkpoint:
    """One config's training state after ``epoch`` epochs.

    Attributes:
        engine: the engine that wrote it (``vectorized`` or ``reference``); only that engine
            resumes from it.
        epoch: epochs trained (the curve has this many points).
        curve: the curve so far.
        arrays: every tensor of the state, by name, as numpy copies.
        scalars: numbers of the state that are not tensors (step counts), by name.
    """

    engine: str
    epoch: int
    curve: Curve
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    scalars: Mapping[str, Scalar] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """A compact encoding: a JSON header, then each array's raw bytes."""
        specs, chunks, offset = [], [], 0
        for name, array in self.arrays.items():
            data = np.ascontiguousarray(array).tobytes()
            specs.append([name, array.dtype.str, list(array.shape), offset, len(data)])
            chunks.append(data)
            offset += len(data)
        header = json.dumps(
            {
                "format": _FORMAT,
                "engine": self.engine,
                "epoch": self.epoch,
                "curve": self.curve.to_dict(),
                "scalars": dict(self.scalars),
                "arrays": specs,
            }
        ).encode()
        return _HEADER.pack(_MAGIC, len(header)) + header + b"".join(chunks)

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        """Decode :meth:`to_bytes`'s output.

        Raises:
            ValueError: when ``data`` is not a checkpoint of this format.
        """
        if len(data) < _HEADER.size:
            raise ValueError(f"{len(data)} bytes are too few for a checkpoint")
        magic, size = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not a checkpoint: it starts with {magic!r}, not {_MAGIC!r}")
        header = json.loads(data[_HEADER.size : _HEADER.size + size])
        if header.get("format") != _FORMAT:
            raise ValueError(f"checkpoint format {header.get('format')!r}; this reads {_FORMAT}")
        body = _HEADER.size + size
        arrays = {
            name: np.frombuffer(data, dtype=np.dtype(dtype), count=-1, offset=body + start)[
                : int(np.prod(shape))
            ].reshape(shape)
            if length
            else np.empty(shape, dtype=np.dtype(dtype))
            for name, dtype, shape, start, length in header["arrays"]
        }
        return cls(
            engine=header["engine"],
            epoch=int(header["epoch"]),
            curve=Curve.from_dict(header["curve"]),
            arrays=arrays,
            scalars=dict(header["scalars"]),
        )


CheckpointCallback = Callable[[dict[int, Checkpoint]], None]
"""``on_checkpoint(checkpoints)``: at an epoch end, by index in the group, the checkpoint of
each config still training (one call, so a store can write them in one transaction)."""


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a training loop takes checkpoints (see the module docstring).

    Attributes:
        max_overhead: the largest share of training time checkpoints may take; ``inf``
            checkpoints every epoch.
        min_seconds: training seconds between checkpoints at least.
    """

    max_overhead: float = 0.02
    min_seconds: float = 0.0

    def clock(self) -> CheckpointClock:
        """A clock for one training loop, started now."""
        return CheckpointClock(self)


EVERY_EPOCH = CheckpointPolicy(max_overhead=float("inf"))
"""Checkpoint at the end of every epoch, whatever it costs (tests, slow epochs)."""


class CheckpointClock:
    """Says at each epoch end whether a checkpoint is due, and learns what one costs."""

    def __init__(self, policy: CheckpointPolicy) -> None:
        self.policy = policy
        self.since = time.perf_counter()  # end of the previous checkpoint (or the start)
        self.cost = 0.0  # seconds the previous checkpoint took

    def due(self) -> bool:
        """Whether the training since the previous checkpoint has earned another one."""
        trained = time.perf_counter() - self.since
        return trained >= self.policy.min_seconds and trained * self.policy.max_overhead >= (
            self.cost
        )

    def taken(self, started: float) -> None:
        """A checkpoint that began at ``started`` (``perf_counter``) has just been handed out."""
        self.since = time.perf_counter()
        self.cost = self.since - started


def skip_epochs(orders: Iterator[Any], epochs: int) -> None:
    """Advance an epoch-order generator past ``epochs`` epochs (their permutations are drawn
    and dropped, so epoch ``epochs + 1`` gets the permutation an uninterrupted run gets)."""
    for _ in range(epochs):
        next(orders)


def to_numpy(tensor: Tensor) -> np.ndarray:
    """A numpy copy of a tensor (on the CPU), for a checkpoint."""
    return tensor.detach().cpu().numpy().copy()


def _optimizer_tensors(state: Any) -> Iterator[tuple[str, list[Tensor | None]]]:
    """The per-parameter tensor lists of a vectorized optimizer state (a dataclass)."""
    for item in dataclasses.fields(state):
        value = getattr(state, item.name)
        if item.name.startswith("_") or not isinstance(value, list):
            continue
        if all(v is None or isinstance(v, Tensor) for v in value):
            yield item.name, value


def _optimizer_counters(state: Any) -> Iterator[tuple[str, int]]:
    """The integer fields of a vectorized optimizer state (step counts, shared by all K)."""
    for item in dataclasses.fields(state):
        value = getattr(state, item.name)
        if not item.name.startswith("_") and type(value) is int:
            yield item.name, value


def optimizer_rows(state: Any, k: int) -> tuple[dict[str, np.ndarray], dict[str, Scalar]]:
    """Config ``k``'s part of a vectorized optimizer state: its row of every stacked
    tensor (named ``field.i``) and the state's step counters.

    Hyperparameters are not kept: they come from the config on resume.
    """
    arrays = {
        f"optim.{name}.{i}": to_numpy(tensor[k])
        for name, tensors in _optimizer_tensors(state)
        for i, tensor in enumerate(tensors)
        if tensor is not None
    }
    return arrays, dict(_optimizer_counters(state))


def restore_optimizer_rows(
    state: Any, checkpoints: Mapping[int, Checkpoint], params: Sequence[Tensor]
) -> None:
    """Put saved rows back into a freshly initialised vectorized optimizer state.

    Args:
        state: the group's state, from the optimizer's ``init_state(params, ...)``.
        checkpoints: by row ``k`` of the group, the checkpoint it resumes from (all of the
            same epoch).
        params: the stacked parameters the state was made for.

    A tensor the fresh state has not made yet (SGD's momentum buffer, made at the first
    step) is made here, with zero rows for configs whose checkpoint lacks it. A tensor a
    checkpoint holds but the group's state does not keep (RMSprop's centred average where no
    config of the group is centred) is state that config does not use: it is left out.

    Raises:
        ValueError: when a saved row does not fit the state (another network), or the
            checkpoints disagree on a step counter.
    """
    for name, tensors in _optimizer_tensors(state):
        for i in range(len(tensors)):
            key = f"optim.{name}.{i}"
            rows = {k: cp.arrays[key] for k, cp in checkpoints.items() if key in cp.arrays}
            if not rows:
                continue
            target = tensors[i]
            if target is None:
                target = tensors[i] = torch.zeros_like(params[i])  # (K, *param_shape)
            for k, saved in rows.items():
                _copy_row(target, k, saved, key)
    counters: dict[str, set[int]] = {}
    for checkpoint in checkpoints.values():
        for name, value in checkpoint.scalars.items():
            counters.setdefault(name, set()).add(int(value))
    for name, values in counters.items():
        if len(values) > 1 or type(getattr(state, name, None)) is not int:
            raise ValueError(f"optimizer counter {name!r}: saved {sorted(values)} do not fit")
        setattr(state, name, values.pop())


def _copy_row(target: Tensor, k: int, saved: np.ndarray, name: str) -> None:
    row = target[k]
    if tuple(row.shape) != saved.shape or str(row.dtype).removeprefix("torch.") != str(saved.dtype):
        raise ValueError(
            f"saved {name} is {saved.dtype} {saved.shape}; the state needs "
            f"{row.dtype} {tuple(row.shape)}"
        )
    row.copy_(torch.from_numpy(saved.copy()))
