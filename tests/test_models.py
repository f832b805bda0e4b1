"""The MLP starts from exactly the weights of a plain script with the same seed."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from optiscope.errors import ConfigError
from optiscope.models import ACTIVATIONS, build_mlp


@pytest.mark.parametrize(
    ("seed", "hidden"), [(123, (50, 50)), (0, (8,)), (7, (16, 32, 8)), (1, ())]
)
def test_weights_equal_manual_seed_then_linear_layers(seed: int, hidden: tuple) -> None:
    model = build_mlp(4, hidden, "relu", seed)
    torch.manual_seed(seed)
    widths = [4, *hidden]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.ReLU()]
    expected = nn.Sequential(*layers, nn.Linear(widths[-1], 1))
    assert len(list(model.parameters())) == len(list(expected.parameters()))
    for ours, theirs in zip(model.parameters(), expected.parameters(), strict=True):
        assert torch.equal(ours, theirs)


def test_building_a_model_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    build_mlp(4, seed=99)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activations(activation: str) -> None:
    model = build_mlp(3, (5,), activation)
    assert isinstance(model[1], ACTIVATIONS[activation])
    assert model(torch.ones(2, 3)).shape == (2, 1)


@pytest.mark.parametrize(
    ("hidden", "activation", "message"),
    [((0,), "relu", "integers >= 1"), ((5,), "swish", "`activation` = .swish. is unknown")],
)
def test_bad_architecture(hidden: tuple, activation: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_mlp(4, hidden, activation)
