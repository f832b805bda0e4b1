"""``batch_rmse`` validation with one forward over the whole validation set: curves equal the
plain PyTorch loop's bit for bit at every batch size, whether the probe takes the whole
forward (and with or without the batched losses after it) or refuses it; the probe runs only
where it pays or the answer is known."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import pytest
import torch

import optiscope.engine._batch_losses as batch_losses
import optiscope.engine._exact as exact
import optiscope.engine._whole_forward as whole_forward
from optiscope.data import Dataset, make_dataset
from optiscope.engine import train_reference, train_vectorized
from optiscope.models import stack_mlps
from optiscope.records import DataSpec, RunConfig

# 700 training rows and 301 validation rows (7 x 43): every batch size below leaves a short
# last validation batch (1 row at 2, 3, 4, 5; 5 at 8; 13 at 16; 45 at 64).
_SPEC = make_dataset(DataSpec(n=1001, train_fraction=0.6993))
DATA = Dataset.from_arrays(_SPEC.X_train, _SPEC.y_train, _SPEC.X_valid, _SPEC.y_valid)
BATCH_SIZES = (2, 3, 4, 5, 8, 16, 64)


def _whole_answers() -> dict[object, str]:
    return {k: v for k, v in exact.known_choices().items() if k[0] == "whole_forward"}  # type: ignore[index]


@pytest.fixture(autouse=True)
def _fresh_answers() -> Iterator[None]:
    """Each test probes for itself, on one intra-op thread as the engine's backends train;
    the process's answers and thread count are restored."""
    before, threads = exact.known_choices(), torch.get_num_threads()
    for key in [k for k in before if k[0] in ("whole_forward", "batch_mse")]:  # type: ignore[index]
        del exact._CHOSEN[key]
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    exact._CHOSEN.clear()
    exact._CHOSEN.update(before)


def _configs(batch_size: int) -> list[RunConfig]:
    return [
        RunConfig(metric="batch_rmse", batch_size=batch_size, epochs=2, seed=seed, hparams=h)
        for seed, h in ((123, {"lr": 0.01}), (7, {"lr": 0.1}))
    ]


def _assert_reference_curves(configs: Sequence[RunConfig]) -> None:
    ours = train_vectorized(configs, DATA)
    for config, record in zip(configs, ours, strict=True):
        expected = train_reference(config, DATA).curve
        assert record.curve.valid_loss == expected.valid_loss, config.batch_size
        assert record.curve.train_loss == expected.train_loss, config.batch_size


def _layout():  # the default network's
    config = RunConfig()
    return stack_mlps(DATA.n_features, config.hidden, config.activation, [0])[1]


def test_the_validation_set_is_not_a_multiple_of_any_batch_size() -> None:
    assert DATA.n_valid == 301 and all(DATA.n_valid % b for b in BATCH_SIZES)


@pytest.mark.parametrize("batched_losses", [False, True])
def test_batch_rmse_equals_the_plain_loop_at_every_batch_size(
    monkeypatch: pytest.MonkeyPatch, batched_losses: bool
) -> None:
    """Two epochs are too few to repay the probes; with the thresholds at 0 they run."""
    monkeypatch.setattr(whole_forward, "PAYS_AFTER_EPOCHS", 0.0)
    monkeypatch.setattr(batch_losses, "PAYS_AFTER", 0 if batched_losses else 10**9)
    for batch_size in BATCH_SIZES:
        _assert_reference_curves(_configs(batch_size))
        _assert_reference_curves(_configs(batch_size)[:1])  # one config: K = 1
    taken = sorted(key[4] for key, name in _whole_answers().items() if name == "whole")  # type: ignore[index]
    print(f"batch sizes with one forward over the validation set here: {taken}")
    assert len(_whole_answers()) == len(BATCH_SIZES), "each batch size was probed"
    assert taken, "the whole forward was exact for at least one batch size (else untested)"
    chosen = [k for k in exact.known_choices() if k[0] == "batch_mse"]  # type: ignore[index]
    assert bool(chosen) == batched_losses


def test_a_refused_whole_forward_keeps_the_per_batch_forward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole forward that is not exact (one row off) is refused by the probe, and the
    engine's curves stay the plain loop's."""
    monkeypatch.setattr(whole_forward, "PAYS_AFTER_EPOCHS", 0.0)
    real = whole_forward._bind_whole

    def shifted(
        t: Sequence[torch.Tensor], out: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor]
    ) -> Callable[[], object]:
        call = real(t, out, act)

        def run() -> None:
            call()
            out.copy_(out.roll(1, 0))

        return run

    monkeypatch.setattr(whole_forward, "_bind_whole", shifted)
    layout = _layout()
    assert not whole_forward.whole_forward_is_exact(layout, "relu", DATA.X_valid, 16, epochs=30)
    assert set(_whole_answers().values()) == {"per_batch"}, "the refusal is remembered"
    _assert_reference_curves(_configs(16))
    assert set(_whole_answers().values()) == {"per_batch"}, "nothing was taken"


def test_the_probe_runs_only_where_it_pays_or_the_answer_is_known() -> None:
    layout = _layout()
    X = DATA.X_valid  # 301 rows: 4 trials of 301 outputs
    few = math.ceil(whole_forward.epochs_to_repay(301, 64)) - 1
    assert 0 < few < whole_forward.epochs_to_repay(301, 64) <= few + 1
    assert not whole_forward.whole_forward_is_exact(layout, "relu", X, 64, epochs=few)
    assert not _whole_answers(), "nothing probed"
    answer = whole_forward.whole_forward_is_exact(layout, "relu", X, 64, epochs=few + 1)
    assert len(_whole_answers()) == 1, "probed, and the answer (either way) remembered"
    # known: the same answer whatever the epochs, without a probe
    assert whole_forward.whole_forward_is_exact(layout, "relu", X, 64, epochs=1) == answer


def test_the_exercises_30_epochs_take_the_whole_forward_by_themselves() -> None:
    """No threshold changed: at batch size 4, 30 epochs repay the probe, the forward over all
    300 rows is taken where exact, and the curve is still the plain loop's."""
    data = make_dataset()
    config = RunConfig(metric="batch_rmse", batch_size=4, epochs=30, seed=123)
    assert whole_forward.epochs_to_repay(data.n_valid, 4) <= 30
    (record,) = train_vectorized([config], data)
    expected = train_reference(config, data).curve
    assert record.curve.valid_loss == expected.valid_loss
    assert record.curve.train_loss == expected.train_loss
    assert len(_whole_answers()) == 1, "probed once"
    print(f"batch size 4 of 300 rows, one forward: {list(_whole_answers().values())}")
