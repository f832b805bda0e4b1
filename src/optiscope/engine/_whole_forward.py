"""One forward over the whole validation set for ``batch_rmse``, where that is exact.

The exercise's loop evaluates ``model(X[s : s + B])`` batch by batch, and the engine's
validation did the same: for batch size 4 and 300 validation rows, 75 batches of five calls
(three products, two activations) per epoch. Every output row depends on its own input row
only, so one forward over all ``N`` rows gives the same numbers wherever the kernels round a
row the same way inside an ``N``-row product as inside a ``B``-row one. MKL does not always:
its kernels for 2- or 3-row products (and, on the machine this was written on, a 5-row
output layer) round differently. So the machine is asked, as for every stacked kernel
(:func:`optiscope.engine._exact.choose`): the plain model's forward over all rows, sliced
into batches, against the plain model's forward batch by batch, on random inputs placed as
the validation set is (its alignment). The stacked network over ``N`` rows is already held
to the plain model over ``N`` rows, layer by layer, by its own probes; together the two give
the per-batch forwards' bits.

The answer does not depend on the number of configs, so it is probed with one and shared by
every group (and, through :func:`optiscope.engine._exact.known_choices`, by a pool's
workers), refusals included. A probe runs the per-batch forward ``trials`` times (enough
trials to compare a thousand outputs: four for 300 rows); it is run only where the epochs
repay that (:func:`epochs_to_repay`, counted over several runs where the answer is kept:
:func:`optiscope.engine._exact.repaying_runs`), or where this process already knows the
answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import torch
from torch import Tensor

from optiscope.engine._exact import (
    Candidate,
    InexactError,
    Operand,
    choose,
    known_choices,
    learn_choices,
    repaying_runs,
)
from optiscope.engine._stacked_net import ACTIVATION_OPS, element_offset
from optiscope.models import StackedLayout

__all__ = ["FIXED_BATCHES", "PAYS_AFTER_EPOCHS", "epochs_to_repay", "whole_forward_is_exact"]

PAYS_AFTER_EPOCHS = 4.1
"""Epochs per probe trial, for many batches, after which the whole forward repays its probe:
a trial runs the plain per-batch forward (fresh tensors: about 33 us a batch of the default
network, one config) where an epoch saves about 10 us a batch (five calls become one copy),
and a margin of a quarter. Measured on the AMD EPYC, one thread, under load. With few
batches a trial's fixed cost (the whole forward, about 0.4 ms) counts: see
:data:`FIXED_BATCHES`."""

FIXED_BATCHES = 12
"""A probe trial's fixed cost, in batches of per-batch cost (0.4 ms / 33 us)."""


def epochs_to_repay(n: int, rows: int, out_features: int = 1) -> float:
    """Epochs after which probing the whole forward for ``n`` rows in batches of ``rows``
    pays: for the exercise's 300 rows, 19 at batch size 4, 27 at 16, 36 at 32."""
    batches = -(-n // rows)
    return PAYS_AFTER_EPOCHS * _trials(n, out_features) * (1 + FIXED_BATCHES / batches)


def _trials(n: int, out_features: int) -> int:
    """Probe trials: enough to compare :data:`_MIN_COMPARED` outputs."""
    return -(-_MIN_COMPARED // (n * out_features))


_MIN_COMPARED = 1024
"""As :mod:`optiscope.engine._exact` compares: outputs per probe, at least."""


def whole_forward_is_exact(
    layout: StackedLayout,
    activation: str,
    X: Tensor,
    rows: int,
    *,
    epochs: int,
) -> bool:
    """Whether one forward over all of ``X`` gives each batch of ``rows`` the bits of the plain
    model's forward on that batch alone (and the probe, if needed, pays for itself).

    Args:
        layout: the network's layout (one config's; the answer holds for any number).
        activation: the hidden layers' activation.
        X: the validation features, ``(N, F)``: its alignment is kept by the probe.
        rows: rows per batch (the last may have fewer).
        epochs: how many times the forward will run (see :func:`epochs_to_repay`).
    """
    n = int(X.shape[0])
    key: Hashable = (
        "whole_forward",
        layout.widths,
        activation,
        n,
        rows,
        element_offset(X),
        str(X.device),
    )
    known = known_choices().get(key)
    if known is not None:
        return known == "whole"
    if epochs * repaying_runs(X.device) < epochs_to_repay(n, rows, layout.out_features):
        return False
    act = ACTIVATION_OPS[activation].forward
    base = torch.empty(n * layout.in_features + 32, device=X.device)  # X's alignment:
    start = (element_offset(X) - element_offset(base)) % 16
    shared = base[start : start + n * layout.in_features].view(1, n, layout.in_features)
    params = layout.views(torch.empty(1, layout.row, device=X.device))  # (1, ...) each
    out = torch.empty(1, n, layout.out_features, device=X.device)  # (1, N, out)
    try:
        choose(
            key,
            [Candidate("whole", lambda t, o: _bind_whole(t, o[0], act))],
            lambda t: torch.cat(
                [_forward(t[0][s : s + rows], t[1:], act) for s in range(0, n, rows)]
            ),
            [
                Operand(shared, shared=True, low=-3.0, high=3.0),
                *(Operand(p) for p in params),
            ],
            out,
        )
    except InexactError:
        learn_choices({key: "per_batch"}, found_here=True)  # a refusal is an answer too
        return False
    return True


def _bind_whole(
    t: Sequence[Tensor], out: Tensor, act: Callable[[Tensor], Tensor]
) -> Callable[[], object]:
    """The plain model's forward over all rows of ``t[0]`` (``(1, N, F)``), into ``out``."""
    x, params = t[0][0], [p[0] for p in t[1:]]
    return lambda: out.copy_(_forward(x, params, act))


def _forward(x: Tensor, params: Sequence[Tensor], act: Callable[[Tensor], Tensor]) -> Tensor:
    """``nn.Sequential(Linear, act, ..., Linear)(x)`` as autograd-free eval runs it."""
    layers = len(params) // 2
    for i in range(layers):
        x = torch.addmm(params[2 * i + 1], x, params[2 * i].t())
        if i < layers - 1:
            x = act(x)
    return x
