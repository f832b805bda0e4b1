"""The exercise's training code, ported literally to Python (the ground truth of the tests).

``train_valid`` mirrors the R code of the course: a DataLoader over a TensorDataset (no
shuffling), ``nn.Sequential``, ``torch.optim.AdamW``; ``valid_loop`` returns the mean of the
per-batch RMSEs with the validation batch size equal to the training batch size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


def nn_mlp(in_features: int = 4) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1)
    )


def train_loop(network: nn.Module, dl_train: DataLoader, opt: torch.optim.Optimizer) -> None:
    network.train()
    for X, y in dl_train:
        opt.zero_grad()
        loss = F.mse_loss(network(X), y)
        loss.backward()
        opt.step()


def valid_loop(network: nn.Module, dl_valid: DataLoader) -> float:
    network.eval()
    losses = []
    for X, y in dl_valid:
        with torch.no_grad():
            losses.append(torch.sqrt(F.mse_loss(network(X), y)).item())
    return sum(losses) / len(losses)


def true_rmse(network: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    # The exercise's way of taking an RMSE (sqrt of the float32 loss, then .item()), over
    # the whole validation set at once.
    network.eval()
    with torch.no_grad():
        return torch.sqrt(F.mse_loss(network(X), y)).item()


def train_valid(
    seed: int,
    data,  # optiscope.data.Dataset
    epochs: int,
    batch_size: int,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    metric: str = "batch_rmse",
) -> tuple[list[float], nn.Module]:
    torch.manual_seed(seed)
    network = nn_mlp(data.n_features)
    opt = torch.optim.AdamW(network.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    dl_train = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=batch_size)
    dl_valid = DataLoader(TensorDataset(data.X_valid, data.y_valid), batch_size=batch_size)
    curve = []
    for _ in range(epochs):
        train_loop(network, dl_train, opt)
        if metric == "batch_rmse":
            curve.append(valid_loop(network, dl_valid))
        else:
            curve.append(true_rmse(network, data.X_valid, data.y_valid))
    return curve, network
