"""The batched validation loss of ``batch_rmse``: each batch's MSE equals ``mse_loss`` on that
batch alone, bit for bit, with and without a short last batch; a form the probe finds wrong
is refused, and the engine then keeps the per-batch losses with the same curves."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
import torch
from torch.nn import functional as F

import optiscope.engine._batch_losses as batch_losses
import optiscope.engine._exact as exact
from optiscope.data import make_dataset
from optiscope.engine import train_reference, train_vectorized
from optiscope.records import RunConfig

Call = Callable[[], object]


def _forget_batch_losses() -> None:
    for key in [key for key in exact._CHOSEN if key[0] == "batch_mse"]:  # type: ignore[index]
        del exact._CHOSEN[key]


@pytest.fixture(autouse=True)
def _fresh_answers() -> Iterator[None]:
    """Each test probes the batched loss for itself; the process's answers are restored."""
    before = exact.known_choices()
    _forget_batch_losses()
    yield
    exact._CHOSEN.clear()
    exact._CHOSEN.update(before)


def _mixed(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    values = torch.rand(shape, generator=generator).sub_(0.5)
    return values.mul_(torch.pow(2.0, torch.randint(-6, 7, shape, generator=generator).float()))


@pytest.mark.parametrize("rows", [2, 3, 8, 16, 64, 299])  # 300 rows: last batches 0-44
def test_each_batch_gets_mse_loss_of_that_batch_alone(rows: int) -> None:
    generator = torch.Generator().manual_seed(rows)
    k, n = 3, 300
    outputs = torch.empty(k, n, 1)
    y = _mixed((n + 1, 1), generator)[1:]  # a slice that does not start a 64-byte block
    batches = -(-n // rows)
    losses = torch.empty(k, batches)
    call = batch_losses.batched_mse(("test",), outputs, y, rows, losses, uses=10**6)
    assert call is not None, "the batched sums are exact on this machine"
    for _ in range(3):
        outputs.copy_(_mixed((k, n, 1), generator))
        call()
        for config in range(k):
            expected = [
                F.mse_loss(outputs[config, s : s + rows].clone(), y[s : s + rows].clone())
                for s in range(0, n, rows)
            ]
            assert torch.equal(losses[config], torch.stack(expected)), (rows, config)


def test_a_batched_form_that_is_not_exact_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = batch_losses._bind

    def off_by_one_row(rows: int) -> Callable[[Sequence[torch.Tensor], torch.Tensor], Call]:
        return real(rows + 1)  # sums the wrong rows: close, not equal

    monkeypatch.setattr(batch_losses, "_bind", off_by_one_row)
    outputs, y = torch.empty(2, 40, 1), torch.randn(40, 1)
    losses = torch.empty(2, 5)
    assert batch_losses.batched_mse(("test",), outputs, y, 8, losses, uses=10**6) is None


def test_the_probe_runs_only_where_it_pays_or_the_answer_is_known() -> None:
    outputs, y, losses = torch.empty(2, 40, 1), torch.randn(40, 1), torch.empty(2, 5)
    few = batch_losses.PAYS_AFTER - 1
    assert batch_losses.batched_mse(("test",), outputs, y, 8, losses, uses=few) is None
    assert not [k for k in exact.known_choices() if k[0] == "batch_mse"], "nothing probed"  # type: ignore[index]
    assert batch_losses.batched_mse(("test",), outputs, y, 8, losses, uses=few + 1) is not None
    assert batch_losses.batched_mse(("test",), outputs, y, 8, losses, uses=1) is not None


def test_the_engine_gives_the_plain_loops_batch_rmse_either_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_losses, "PAYS_AFTER", 0)  # (one epoch: few batches)
    data = make_dataset()
    configs = [
        RunConfig(metric="batch_rmse", batch_size=bs, epochs=1, hparams={"lr": lr})
        for bs in (3, 12)
        for lr in (0.01, 0.1)
    ]
    groups = [configs[:2], configs[2:]]
    batched = [r.curve.valid_loss for g in groups for r in train_vectorized(g, data)]
    chosen = [v for k, v in exact.known_choices().items() if k[0] == "batch_mse"]  # type: ignore[index]
    assert chosen == ["batched", "batched"], "both groups used the batched losses"
    monkeypatch.setattr(batch_losses, "_bind", lambda rows: _wrong)
    _forget_batch_losses()
    per_batch = [r.curve.valid_loss for g in groups for r in train_vectorized(g, data)]
    reference = [train_reference(c, data).curve.valid_loss for c in configs]
    assert batched == reference
    assert per_batch == reference


def _wrong(t: Sequence[torch.Tensor], losses: torch.Tensor) -> Call:
    return lambda: losses.fill_(1.0)
