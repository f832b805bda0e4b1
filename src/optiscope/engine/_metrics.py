"""Validation metrics: the true RMSE (default), the exercise's mean of per-batch RMSEs, and for
classification the log loss and the accuracy. What each one is (its task, its direction) is
:data:`optiscope.settings.METRICS`; here is how it is computed."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from optiscope.settings import METRICS

__all__ = ["METRICS", "accuracy", "evaluate"]


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Share of rows whose largest logit is their class: ``count / n`` as a Python float.

    Args:
        logits: ``(N, C)``.
        y: class labels ``(N,)``.
    """
    correct = int((logits.argmax(dim=-1) == y).sum().item())
    return correct / int(y.shape[0])


def evaluate(model: nn.Module, X: Tensor, y: Tensor, metric: str, batch_size: int) -> float:
    """Validation loss of ``model`` in eval mode, without gradients.

    Args:
        model: the network.
        X: features ``(N, F)``.
        y: targets ``(N, 1)``, or class labels ``(N,)`` for a classification metric.
        metric: a name in :data:`METRICS`.
        batch_size: validation batch size for ``batch_rmse``.

    Returns:
        The metric as a Python float (NaN or inf if the model diverged).
    """
    model.eval()
    with torch.no_grad():
        if metric == "rmse":
            return float(torch.sqrt(F.mse_loss(model(X), y)).item())
        if metric == "log_loss":
            return float(F.cross_entropy(model(X), y).item())
        if metric == "accuracy":
            return accuracy(model(X), y)
        losses = []
        for first in range(0, X.shape[0], batch_size):
            rows = slice(first, first + batch_size)
            losses.append(float(torch.sqrt(F.mse_loss(model(X[rows]), y[rows])).item()))
        return sum(losses) / len(losses)
