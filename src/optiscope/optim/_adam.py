r"""Adam (Kingma & Ba, https://arxiv.org/abs/1412.6980); weight decay is L2, added to the gradient.

.. math::

    g &\leftarrow g + \lambda p \\
    m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
    v &\leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
    \hat m &= m / (1 - \beta_1^t), \quad \hat v = v / (1 - \beta_2^t) \\
    p &\leftarrow p - \text{lr} \, \hat m / (\sqrt{\hat v} + \epsilon)
"""

from __future__ import annotations

import torch

from optiscope.optim._base import HParamSpec, OptimizerInfo

__all__ = ["ADAM"]

ADAM = OptimizerInfo(
    name="adam",
    title="Adam",
    torch_class=torch.optim.Adam,
    summary="Adam; weight decay as an L2 term in the gradient",
    hparams=(
        HParamSpec("lr", 1e-3, low=0.0, low_open=True, doc="step size"),
        HParamSpec("betas", (0.9, 0.999), kind="betas", doc="decay of the moment estimates"),
        HParamSpec("eps", 1e-8, low=0.0, doc="added to the denominator"),
        HParamSpec("weight_decay", 0.0, low=0.0, doc="L2 penalty added to the gradient"),
    ),
)
