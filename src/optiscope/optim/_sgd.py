r"""SGD with momentum, dampening and Nesterov (Sutskever et al., https://proceedings.mlr.press/v28/sutskever13.html).

With ``g`` the gradient plus ``λ p`` (L2 weight decay) and buffer ``b`` (``b = g`` at the
first step):

.. math::

    b &\leftarrow \mu b + (1 - \tau) g \\
    d &= g + \mu b \text{ (nesterov) or } b \\
    p &\leftarrow p - \text{lr} \, d
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from optiscope.optim._base import HParamSpec, OptimizerInfo

__all__ = ["SGD"]


def _nesterov_checks(values: Mapping[str, Any]) -> list[str]:
    if values["nesterov"] and (values["momentum"] <= 0 or values["dampening"] != 0):
        return [
            "`nesterov` = True needs momentum > 0 and dampening = 0 "
            f"(got momentum = {values['momentum']!r}, dampening = {values['dampening']!r})"
        ]
    return []


SGD = OptimizerInfo(
    name="sgd",
    title="SGD",
    torch_class=torch.optim.SGD,
    summary="stochastic gradient descent with optional momentum, dampening, Nesterov",
    hparams=(
        HParamSpec("lr", 1e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("momentum", 0.0, low=0.0, high=1.0, high_open=True, doc="momentum factor"),
        HParamSpec("dampening", 0.0, low=0.0, high=1.0, doc="dampening of the momentum input"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
        HParamSpec("nesterov", False, kind="bool", doc="Nesterov momentum"),
    ),
    extra_checks=_nesterov_checks,
)
