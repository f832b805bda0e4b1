r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, https://arxiv.org/abs/1711.05101).

For each step ``t`` with gradient ``g``:

.. math::

    p &\leftarrow p - \text{lr} \cdot \lambda \, p \\
    m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
    v &\leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
    \hat m &= m / (1 - \beta_1^t), \quad \hat v = v / (1 - \beta_2^t) \\
    p &\leftarrow p - \text{lr} \, \hat m / (\sqrt{\hat v} + \epsilon)

The reference is ``torch.optim.AdamW`` (the exercise's optimizer). Torch implements it as Adam
with ``decoupled_weight_decay=True``; the vectorized update is Adam's with ``decoupled=True``
(see :func:`optiscope.optim._adam.adam_step`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optiscope.optim._adam import AdamState, adam_reference_step, adam_step, init_adam_state
from optiscope.optim._base import HParamSpec, OptimizerInfo

__all__ = ["ADAMW", "adamw_reference_step", "adamw_step"]


def adamw_step(params: Sequence[Tensor], grads: Sequence[Tensor], state: AdamState) -> None:
    """One AdamW step of K stacked configs, in place (state from ``init_adam_state``)."""
    adam_step(params, grads, state, decoupled=True)


def adamw_reference_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: dict[str, Any],
    hparams: Mapping[str, Any],
) -> None:
    """One AdamW step of one config, as ``torch.optim.AdamW`` writes it."""
    adam_reference_step(params, grads, state, hparams, decoupled=True)


ADAMW = OptimizerInfo(
    name="adamw",
    title="AdamW",
    torch_class=torch.optim.AdamW,
    summary="Adam with decoupled weight decay (the exercise's optimizer)",
    hparams=(
        HParamSpec("lr", 1e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("betas", (0.9, 0.999), kind="betas", doc="decay of the moment estimates"),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to the denominator"),
        HParamSpec("weight_decay", 1e-2, low=0.0, doc="decoupled decay rate"),
    ),
    init_state=init_adam_state,
    step=adamw_step,
    reference_step=adamw_reference_step,
)
