"""Validation metrics: the true RMSE (default) and the exercise's mean of per-batch RMSEs."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["METRICS", "METRIC_GOALS", "evaluate"]

METRICS: dict[str, str] = {
    "rmse": "RMSE over the whole validation set",
    "batch_rmse": "the exercise's metric: mean over validation batches of each batch's RMSE "
    "(validation batch size = training batch size); reads low for small batches",
}

#: Which way each metric improves: ``min`` (a loss) or ``max`` (a score such as accuracy).
#: Tuning reports (the best config, the expected best of k trials) read it from here.
METRIC_GOALS: dict[str, str] = {"rmse": "min", "batch_rmse": "min"}


def evaluate(model: nn.Module, X: Tensor, y: Tensor, metric: str, batch_size: int) -> float:
    """Validation loss of ``model`` in eval mode, without gradients.

    Args:
        model: the network.
        X: features ``(N, F)``.
        y: targets ``(N, 1)``.
        metric: ``rmse`` or ``batch_rmse`` (see :data:`METRICS`).
        batch_size: validation batch size for ``batch_rmse``.

    Returns:
        The metric as a Python float (NaN or inf if the model diverged).
    """
    model.eval()
    with torch.no_grad():
        if metric == "rmse":
            return float(torch.sqrt(F.mse_loss(model(X), y)).item())
        losses = []
        for first in range(0, X.shape[0], batch_size):
            rows = slice(first, first + batch_size)
            losses.append(float(torch.sqrt(F.mse_loss(model(X[rows]), y[rows])).item()))
        return sum(losses) / len(losses)
