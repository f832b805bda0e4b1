"""K copies of the MLP in one buffer: each copy's initial weights exactly ``build_mlp(seed)``'s.

The vectorized engine trains K configurations as one stacked model. Their parameters live in a
single float buffer of shape ``(K, row)``: row ``k`` holds config ``k``'s weights and biases in
``build_mlp``'s order (``0.weight``, ``0.bias``, ``2.weight``, ...), each starting on a 64-byte
boundary. The alignment is not cosmetic: MKL's small matrix kernels round differently for
operands that start off a 64-byte boundary, and a plain model's parameters are separate
allocations, which are all 64-byte aligned. Keeping every slice aligned the same way keeps every
matrix product identical to the plain model's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from optiscope.models._mlp import build_mlp, validate_architecture

__all__ = ["ALIGN", "StackedLayout", "aligned_row", "mlp_layout", "stack_mlps", "unstack_mlp"]

ALIGN = 16
"""Elements per 64-byte block of float32: every stacked slice starts on such a boundary."""


def aligned_row(numel: int) -> int:
    """Elements per config row for a slice of ``numel`` elements: a multiple of :data:`ALIGN`."""
    return -(-numel // ALIGN) * ALIGN


@dataclass(frozen=True)
class StackedLayout:
    """Where each parameter of the MLP sits in a row of the stacked buffer.

    Attributes:
        in_features: width of the input.
        hidden: widths of the hidden layers.
        names: ``state_dict`` keys of :func:`build_mlp`'s model, in order.
        shapes: each parameter's shape (``(out, in)`` weights, ``(out,)`` biases).
        offsets: each parameter's first element in the row (multiples of :data:`ALIGN`).
        row: elements per config row.
        out_features: width of the output (1 for regression, the classes for
            classification).
    """

    in_features: int
    hidden: tuple[int, ...]
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    row: int
    out_features: int = 1

    @property
    def widths(self) -> tuple[int, ...]:
        """Layer widths from input to output: ``(in, *hidden, out)``."""
        return (self.in_features, *self.hidden, self.out_features)

    def views(self, buffer: Tensor) -> list[Tensor]:
        """Each parameter as a view ``(K, *shape)`` of a ``(K, row)`` buffer (no copy)."""
        if buffer.dim() != 2 or buffer.shape[1] != self.row:
            raise ValueError(f"expected a (K, {self.row}) buffer, got {tuple(buffer.shape)}")
        return [
            buffer[:, offset : offset + math.prod(shape)].view(buffer.shape[0], *shape)
            for offset, shape in zip(self.offsets, self.shapes, strict=True)
        ]


def mlp_layout(in_features: int, hidden: Sequence[int], out_features: int = 1) -> StackedLayout:
    """The stacked layout of ``build_mlp(in_features, hidden, out_features=...)``'s
    parameters."""
    validate_architecture(hidden, "relu")
    widths = [in_features, *hidden, out_features]
    names, shapes, offsets = [], [], []
    position = 0
    for layer, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        index = 2 * layer  # Linear, activation, Linear, ...: the Linears sit at even indices
        for suffix, shape in (("weight", (width_out, width_in)), ("bias", (width_out,))):
            names.append(f"{index}.{suffix}")
            shapes.append(shape)
            offsets.append(position)
            position += aligned_row(math.prod(shape))
    return StackedLayout(
        in_features=in_features,
        hidden=tuple(hidden),
        names=tuple(names),
        shapes=tuple(shapes),
        offsets=tuple(offsets),
        row=position,
        out_features=out_features,
    )


def stack_mlps(
    in_features: int,
    hidden: Sequence[int],
    activation: str,
    seeds: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    out_features: int = 1,
) -> tuple[Tensor, StackedLayout]:
    """Initial weights of K MLPs, one per seed, stacked into one aligned buffer.

    Row ``k`` equals the parameters of ``build_mlp(in_features, hidden, activation, seeds[k])``
    bit for bit (each distinct seed is built once). Padding between parameters is zero and
    stays zero under every optimizer (its gradient is zero).

    Args:
        in_features: input width.
        hidden: hidden widths.
        activation: the activation (it does not change the weights; checked for validity).
        seeds: one ``torch.manual_seed`` per copy.
        device: where the buffer lives.
        out_features: output width (the number of classes for classification).

    Returns:
        ``(buffer, layout)`` with ``buffer`` of shape ``(K, layout.row)``, float32.
    """
    layout = mlp_layout(in_features, hidden, out_features)
    buffer = torch.zeros(len(seeds), layout.row)  # (K, row)
    views = layout.views(buffer)
    built: dict[int, list[Tensor]] = {}
    for k, seed in enumerate(seeds):
        if seed not in built:
            model = build_mlp(in_features, hidden, activation, seed, out_features=out_features)
            built[seed] = [p.detach() for p in model.parameters()]
        for view, param in zip(views, built[seed], strict=True):
            view[k].copy_(param)
    return buffer.to(device), layout


def unstack_mlp(buffer: Tensor, layout: StackedLayout, k: int) -> dict[str, Tensor]:
    """Config ``k``'s parameters as a ``state_dict`` for ``build_mlp``'s model (copies)."""
    return {
        name: view[k].detach().clone()
        for name, view in zip(layout.names, layout.views(buffer), strict=True)
    }
