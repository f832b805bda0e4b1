"""The exercise's MLP family: ``in -> 50 -> 50 -> 1`` with ReLU, widths and activation free."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

import torch
from torch import nn

from optiscope.errors import ConfigError
from optiscope.settings import SETTINGS

__all__ = ["ACTIVATIONS", "build_mlp", "validate_architecture"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}

# torch.manual_seed is process-global: two threads building models at once would interleave
# their draws. The lock keeps each model's initialization one uninterrupted sequence.
_INIT_LOCK = threading.Lock()


def validate_architecture(hidden: Sequence[int], activation: str) -> None:
    """Check hidden widths and activation name.

    Raises:
        ConfigError: for a non-positive width or an unknown activation.
    """
    problems = SETTINGS["hidden"].problems(hidden) + SETTINGS["activation"].problems(activation)
    if problems:  # (the settings registry's rules; ACTIVATIONS is tested against its choices)
        raise ConfigError(f"{'; '.join(problems)}.")


def build_mlp(
    in_features: int,
    hidden: Sequence[int] = (50, 50),
    activation: str = "relu",
    seed: int = 123,
    *,
    out_features: int = 1,
) -> nn.Sequential:
    """Build the MLP exactly as a plain script would after ``torch.manual_seed(seed)``.

    The layers are ``Linear(in, h1), act, Linear(h1, h2), act, ..., Linear(h_last, 1)``,
    constructed in order, so the initial weights equal those of::

        torch.manual_seed(seed)
        nn.Sequential(nn.Linear(4, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1))

    The global RNG state is restored afterwards, so building a model does not change what
    the caller's code draws next.

    Args:
        in_features: number of input features.
        hidden: widths of the hidden layers (empty: a linear model).
        activation: ``relu``, ``tanh``, ``gelu`` or ``sigmoid``.
        seed: the seed set before construction (the exercise uses 123).
        out_features: width of the output layer: 1 for regression, the number of classes
            for classification (logits for ``nn.CrossEntropyLoss``).

    Returns:
        A float32 ``nn.Sequential`` on the CPU.

    Raises:
        ConfigError: for invalid widths or activation.
    """
    validate_architecture(hidden, activation)
    widths = [in_features, *hidden]
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.Linear(width_in, width_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], out_features))
        return nn.Sequential(*layers)
