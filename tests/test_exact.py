"""The exactness probe: a stacked kernel is used only if it equals the plain call bit for bit.

The candidates here are made to be wrong in the ways real kernels are: summing in another
order (which agrees with the plain sum on most elements, so a small sample would pass it),
and differing only in some slices (as a kernel whose rounding depends on a slice's alignment
does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import pytest
import torch
from torch import Tensor

from optiscope.engine._exact import (
    Candidate,
    InexactError,
    Operand,
    choose,
    known_choices,
    per_model,
)
from optiscope.engine._stacked_net import LOSS_PROBE, OUTPUT_BIAS_PROBE


def _plain_sum(t: Sequence[Tensor]) -> Tensor:
    return t[0].sum(0)  # (rows, width) -> (width,): the plain model's bias gradient


def _per_model_sum() -> Candidate:
    return per_model(lambda t, o: partial(torch.sum, t[0], 0, out=o))


def _reversed_sum(t: Sequence[Tensor], o: Tensor) -> Callable[[], object]:
    """The rows summed last to first: another order, the same sum in exact arithmetic."""
    return partial(torch.sum, t[0].flip(1), 1, out=o)


def _wrong_in_slice(k: int) -> Candidate:
    def bind(t: Sequence[Tensor], o: Tensor) -> Callable[[], object]:
        def run() -> None:
            torch.sum(t[0], 1, out=o)
            o[k].nextafter_(torch.tensor(float("inf")))  # one ulp off, in one slice only

        return run

    return Candidate(f"wrong_in_slice_{k}", bind)


def _wrong_after(runs: int) -> Candidate:
    """Right for its first ``runs`` calls, one ulp off afterwards: a kernel that disagrees
    with the plain call on few elements (two kernels that differ in one last addition agree
    on most sums; MKL's batched and plain 1 x 64 x 50 products agree on 97% of them here)."""
    calls = [0]

    def bind(t: Sequence[Tensor], o: Tensor) -> Callable[[], object]:
        def run() -> None:
            torch.sum(t[0], 1, out=o)
            calls[0] += 1
            if calls[0] > runs:
                o.nextafter_(torch.tensor(float("inf")))

        return run

    return Candidate("wrong_after", bind)


def _probe(
    key: object, candidates: list[Candidate], k: int = 8, rows: int = 64, width: int = 50
) -> str:
    g = torch.empty(k, rows, width)
    out = torch.empty(k, width)
    return choose(("test_exact", key, k, rows), candidates, _plain_sum, [Operand(g)], out).name


def test_an_exact_stacked_kernel_is_chosen() -> None:
    stacked = Candidate("stacked", lambda t, o: partial(torch.sum, t[0], 1, out=o))
    assert _probe("stacked", [stacked, _per_model_sum()]) == "stacked"


def test_a_kernel_summing_in_another_order_is_refused() -> None:
    assert _probe("reversed", [Candidate("reversed", _reversed_sum), _per_model_sum()]) == (
        "per_model"
    )


def test_one_number_per_config_is_compared_over_a_thousand_times() -> None:
    """Three configs with one output each: the probe repeats until it has compared over a
    thousand numbers, so a kernel that is right on its first hundred calls is still caught."""
    candidates = [_wrong_after(100), _per_model_sum()]
    assert _probe("rare", candidates, k=3, width=1) == "per_model"


@pytest.mark.parametrize("k", [1, 2, 3, 7, 15])
def test_a_kernel_wrong_in_one_slice_of_the_first_sixteen_is_refused(k: int) -> None:
    """Slices at a constant stride repeat their 64-byte alignment within 16 slices: every
    one of the first 16 is checked (and the last)."""
    chosen = _probe(("slice", k), [_wrong_in_slice(k), _per_model_sum()], k=20)
    assert chosen == "per_model"


def test_a_kernel_wrong_only_in_the_last_slice_is_refused() -> None:
    chosen = _probe("last", [_wrong_in_slice(39), _per_model_sum()], k=40)
    assert chosen == "per_model"


def test_one_config_takes_the_plain_call_without_a_probe() -> None:
    """For K = 1 the per-model candidate is the plain call itself: nothing is compared, and
    nothing is remembered (a later caller that tries a stacked form first gets it probed)."""
    calls = []

    def single(t: Sequence[Tensor]) -> Tensor:
        calls.append(1)
        return _plain_sum(t)

    out = torch.empty(1, 50)
    key = ("test_exact", "alone")
    chosen = choose(key, [_per_model_sum()], single, [Operand(torch.empty(1, 8, 50))], out)
    assert chosen.name == "per_model" and calls == [] and key not in known_choices()


def test_no_exact_candidate_raises() -> None:
    with pytest.raises(InexactError, match="reproduces the plain model"):
        _probe("none", [Candidate("reversed", _reversed_sum)])


def test_configs_laid_out_as_fresh_tensors_take_the_plain_call_without_a_probe() -> None:
    """Slices of an aligned stack (each on a 64-byte boundary, with a fresh tensor's strides)
    make the per-model call the plain model's own call: with it first, nothing is probed."""
    calls = []

    def single(t: Sequence[Tensor]) -> Tensor:
        calls.append(1)
        return _plain_sum(t)

    g = torch.empty(4, 16, 16)  # (K, rows, width): each slice 1 KiB, so all start aligned
    assert g.data_ptr() % 64 == 0
    key = ("test_exact", "fresh")
    chosen = choose(key, [_per_model_sum()], single, [Operand(g)], torch.empty(4, 16))
    assert chosen.name == "per_model" and calls == [] and key not in known_choices()


@pytest.mark.parametrize("layout", ["misaligned", "transposed"])
def test_configs_not_laid_out_as_fresh_tensors_are_probed(layout: str) -> None:
    """A slice off a 64-byte boundary, or with other strides, is not what the plain model
    computes on: the per-model call is probed like any other."""
    calls = []

    def single(t: Sequence[Tensor]) -> Tensor:
        calls.append(1)
        return _plain_sum(t)

    if layout == "misaligned":
        g = torch.empty(4 * 16 * 16 + 1)[1:].view(4, 16, 16)  # starts 4 bytes in
    else:
        g = torch.empty(4, 16, 16).transpose(1, 2)  # (K, rows, width), column-major slices
    key = ("test_exact", "not fresh", layout)
    chosen = choose(key, [_per_model_sum()], single, [Operand(g)], torch.empty(4, 16))
    assert chosen.name == "per_model" and calls and known_choices()[key] == "per_model"


@pytest.mark.parametrize("layout", ["aligned", "misaligned", "transposed"])
def test_the_plain_call_gets_inputs_laid_out_as_fresh_tensors(layout: str) -> None:
    """Whatever the operand's own slices look like, the plain call in a probe gets what the
    plain model has: contiguous (or a copy's strides), on a 64-byte boundary, unshared."""
    seen: list[Tensor] = []

    def single(t: Sequence[Tensor]) -> Tensor:
        seen.append(t[0])
        return _plain_sum(t)

    base = torch.empty(5 * 12 * 10 + 1)
    if layout == "aligned":
        g = torch.empty(5, 12, 16)[:, :, :10]  # gaps: (12, 10) slices of a (12, 16) row
    elif layout == "misaligned":
        g = base[1:].view(5, 12, 10)
    else:
        g = base[:600].view(5, 10, 12).transpose(1, 2)
    stacked = Candidate("stacked", lambda t, o: partial(torch.sum, t[0], 1, out=o))
    choose(("test_exact", "inputs", layout), [stacked], single, [Operand(g)], torch.empty(5, 10))
    assert seen
    fresh_strides = torch.empty_like(g[0]).stride()
    for t in seen:
        assert t.data_ptr() % 64 == 0 and t.stride() == fresh_strides
        assert t.untyped_storage().data_ptr() != g.untyped_storage().data_ptr()
    assert len({t.data_ptr() for t in seen}) > 1  # a new tensor per slice and trial


def test_one_number_per_config_is_probed_only_where_the_steps_repay_it() -> None:
    """The exercise's lr sweep at batch size 16: 4 configs, 540 full batches in 30 epochs
    (the probe pays) and 30 short last ones (it does not); one config pays only over the
    10,500 steps of batch size 2; a 1-unit layer's bias sum of one config never."""
    assert LOSS_PROBE.pays(4, 540) and not LOSS_PROBE.pays(4, 30)
    assert LOSS_PROBE.pays(1, 10_500) and not LOSS_PROBE.pays(1, 1_320)
    assert not OUTPUT_BIAS_PROBE.pays(1, 10**9)
    for cost in (LOSS_PROBE, OUTPUT_BIAS_PROBE):
        needed = [next(u for u in range(1, 10**6) if cost.pays(k, u)) for k in (2, 4, 16, 64)]
        assert needed == sorted(needed, reverse=True)  # more configs: fewer steps to repay


def test_the_drawn_inputs_keep_their_dtype_under_another_default_dtype() -> None:
    """The plain call reads drawn slices only where they have the operand's dtype: a
    float64 default dtype must not turn them into float64 beside float32 operands."""
    seen: list[Tensor] = []

    def single(t: Sequence[Tensor]) -> Tensor:
        seen.append(t[0])
        return _plain_sum(t)

    g, out = torch.empty(4, 16, 16), torch.empty(4, 16)  # float32, as the engine's buffers
    stacked = Candidate("stacked", lambda t, o: partial(torch.sum, t[0], 1, out=o))
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        chosen = choose(("test_exact", "dtype"), [stacked], single, [Operand(g)], out)
    finally:
        torch.set_default_dtype(before)
    assert chosen.name == "stacked" and seen
    assert all(t.dtype == torch.float32 for t in seen)
