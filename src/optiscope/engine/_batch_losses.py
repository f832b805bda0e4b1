"""Every validation batch's MSE in one go, for the exercise's mean-of-batch-RMSEs metric.

``batch_rmse`` evaluates the validation set in batches of the training batch size, as the
exercise's loop does: ``mse_loss(model(X_b), y_b)`` per batch. The forward pass must stay per
batch (MKL's kernels for 2 or 3 rows round differently from the same rows inside a longer
product), but the loss need not: each batch's outputs are copied into one ``(K, N, 1)``
buffer, and one call per epoch forms ``(out - y)**2`` over all rows, sums each batch's rows
and divides by its count, where the plain call per batch did four calls per batch (8,900
forward steps of the exercise's batch-size sweep paid them).

Whether the batched sums equal ``mse_loss`` batch by batch is asked of the machine, as for
every stacked kernel (:func:`optiscope.engine._exact.choose`); where they do not, the
per-batch losses stay. The probe costs about 20 ms (a thousand plain ``mse_loss`` calls), so
it is only run for enough batches to repay it (:data:`PAYS_AFTER`, counted over several runs
where the answer is kept: :func:`~optiscope.engine._exact.repaying_runs`); an answer this
process already has is used whatever the count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from optiscope.engine._exact import (
    Candidate,
    InexactError,
    Operand,
    choose,
    known_choices,
    repaying_runs,
)

__all__ = ["PAYS_AFTER", "batched_mse"]

PAYS_AFTER = 3000
"""Validation batches, over all epochs, after which the batched losses repay their probe:
they save about 6.5 us a batch (four calls for one copy) against about 20 ms of probing. The
exercise's batch size 2 has 4,500 (150 a epoch for 30 epochs), batch size 16 only 570."""


def batched_mse(
    key: tuple[object, ...],
    outputs: Tensor,
    y: Tensor,
    rows: int,
    losses: Tensor,
    *,
    uses: int,
) -> Callable[[], object] | None:
    """A call writing each config's MSE of each batch of ``rows`` into ``losses``, or ``None``
    where that is not exact here, or would not repay its probe.

    Args:
        key: what the answer depends on, besides the shapes (layout, device).
        outputs: every batch's outputs, ``(K, N, 1)``, contiguous.
        y: the targets, ``(N, 1)`` (a slice of the data set, shared by every config).
        rows: rows per batch (the last batch may have fewer).
        losses: where the losses go, ``(K, batches)``.
        uses: how many batches' losses the call will give, over all epochs (see
            :data:`PAYS_AFTER`).
    """
    k, n = int(outputs.shape[0]), int(outputs.shape[1])
    full_key = ("batch_mse", *key, k, n, rows)
    if uses * repaying_runs(y.device) < PAYS_AFTER and full_key not in known_choices():
        return None
    scratch = torch.empty(y.shape, device=y.device)  # the probe fills it, not the data set
    candidate = Candidate("batched", _bind(rows))
    try:
        chosen = choose(
            full_key,
            [candidate],
            lambda t: _per_batch(t[0], t[1], rows),
            [Operand(outputs), Operand(scratch.expand(k, n, 1), shared=True)],
            losses,
        )
    except InexactError:
        return None
    return chosen.bind([outputs, y.expand(k, n, 1)], losses)


def _bind(rows: int) -> Callable[[Sequence[Tensor], Tensor], Callable[[], None]]:
    """Binds the batched form for batches of ``rows``: ``bind([outputs, y], losses)``."""

    def bind(t: Sequence[Tensor], losses: Tensor) -> Callable[[], None]:
        outputs, y = t
        k, n = int(outputs.shape[0]), int(outputs.shape[1])
        full, tail = divmod(n, rows)
        squares = torch.empty(k, n, device=outputs.device)  # (K, N)
        columns = squares.view(k, n, 1)
        by_batch = squares[:, : full * rows].view(k, full, rows)  # (K, full, rows)
        full_losses = losses[:, :full]  # (K, full)
        count = torch.tensor(float(rows), device=outputs.device)  # mean = sum / count
        last = squares[:, full * rows :]  # (K, tail)
        tail_loss = losses[:, full] if tail else losses[:, 0]  # (K,): the last batch's
        tail_count = torch.tensor(float(tail), device=outputs.device)

        def run() -> None:
            torch.sub(outputs, y, out=columns)
            squares.square_()
            torch.sum(by_batch, 2, out=full_losses)
            full_losses.div_(count)
            if tail:
                torch.sum(last, 1, out=tail_loss)
                tail_loss.div_(tail_count)

        return run

    return bind


def _per_batch(outputs: Tensor, y: Tensor, rows: int) -> Tensor:
    """The plain loop's losses for one config: ``mse_loss`` of each batch, fresh tensors."""
    n = int(outputs.shape[0])
    return torch.stack(
        [
            F.mse_loss(outputs[s : s + rows].clone(), y[s : s + rows].clone())
            for s in range(0, n, rows)
        ]
    )  # (batches,)
