"""Stacked MLPs: row k is build_mlp(seed k) bit for bit, and every slice is 64-byte aligned."""

from __future__ import annotations

import pytest
import torch

from optiscope.models import build_mlp
from optiscope.models._stacked import ALIGN, mlp_layout, stack_mlps, unstack_mlp


@pytest.mark.parametrize("hidden", [(50, 50), (7,), (), (16, 3, 5)])
def test_each_row_is_the_plain_models_initial_weights(hidden: tuple[int, ...]) -> None:
    seeds = [123, 0, 123, 9]
    buffer, layout = stack_mlps(4, hidden, "relu", seeds)
    assert buffer.shape == (len(seeds), layout.row)
    for k, seed in enumerate(seeds):
        expected = build_mlp(4, hidden, "relu", seed).state_dict()
        ours = unstack_mlp(buffer, layout, k)
        assert list(ours) == list(expected)
        for name, value in expected.items():
            assert torch.equal(ours[name], value), name


def test_every_slice_starts_on_a_64_byte_boundary() -> None:
    buffer, layout = stack_mlps(4, (50, 50), "relu", list(range(5)))
    assert layout.row % ALIGN == 0
    for view in layout.views(buffer):
        for k in range(buffer.shape[0]):
            assert view[k].data_ptr() % 64 == 0
            assert view[k].is_contiguous()


def test_padding_is_zero_and_the_layout_is_build_mlps_order() -> None:
    layout = mlp_layout(4, (50, 50))
    assert layout.names == ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias")
    assert layout.shapes == ((50, 4), (50,), (50, 50), (50,), (1, 50), (1,))
    buffer, _ = stack_mlps(4, (50, 50), "relu", [1])
    used = sum(v[0].numel() for v in layout.views(buffer))
    assert int((buffer != 0).sum()) <= used  # nothing outside the parameters is set


def test_views_refuse_a_buffer_of_another_layout() -> None:
    layout = mlp_layout(4, (8,))
    with pytest.raises(ValueError, match="buffer"):
        layout.views(torch.zeros(2, layout.row + 1))
