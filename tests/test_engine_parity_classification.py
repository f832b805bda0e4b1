"""Cross-entropy training: the vectorized engine reproduces the plain PyTorch loop bit for bit.

The reference here is written out as a user would write it (``nn.CrossEntropyLoss()``,
``torch.optim``, an ``nn.Sequential`` built after ``torch.manual_seed``), not the engine's
own reference loop, and both engines are held to it: curves exactly (max difference 0.0)
and every final parameter with ``rtol=0, atol=0``. The configs cover two, three, four and
eight classes, batches of 4 rows or fewer (which the exactness probe sends per config),
shuffled batches (labels that change each step), partial last batches, every activation and
two optimizers.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import nn

from optiscope.data import Dataset, make_dataset
from optiscope.engine import EVERY_EPOCH, evaluate, train_reference, train_vectorized
from optiscope.engine._vectorized import VectorizedTrainer
from optiscope.models import build_mlp
from optiscope.records import DataSpec, RunConfig
from optiscope.settings import METRICS


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """One intra-op thread, as the engine's backends use."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _plain_loop(
    config: RunConfig, data: Dataset
) -> tuple[list[float], list[float], dict[str, Any]]:
    """The loop a user writes: per-epoch mean training loss, validation metric, weights."""
    torch.manual_seed(config.seed)
    widths = [data.n_features, *config.hidden]
    layers: list[nn.Module] = []
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}
    for w_in, w_out in itertools.pairwise(widths):
        layers += [nn.Linear(w_in, w_out), act[config.activation]()]
    layers.append(nn.Linear(widths[-1], data.n_classes))
    model = nn.Sequential(*layers)
    hparams = config.hparam_dict
    if config.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), **hparams)  # type: ignore[arg-type]
    else:
        opt = torch.optim.SGD(model.parameters(), **hparams)  # type: ignore[arg-type]
    criterion = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(config.seed)
    train_losses, valid = [], []
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(data.n_train, generator=generator) if config.shuffle else None
        losses = []
        for first in range(0, data.n_train, config.batch_size):
            rows: Any = slice(first, first + config.batch_size)
            if order is not None:
                rows = order[first : first + config.batch_size]
            opt.zero_grad()
            loss = criterion(model(data.X_train[rows]), data.y_train[rows])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        train_losses.append(sum(losses) / len(losses))
        model.eval()
        with torch.no_grad():
            logits = model(data.X_valid)
            if config.metric == "log_loss":
                valid.append(criterion(logits, data.y_valid).item())
            else:
                correct = (logits.argmax(1) == data.y_valid).sum().item()
                valid.append(correct / data.n_valid)
    return train_losses, valid, model.state_dict()


def _configs(data: DataSpec, metric: str, **fields: Any) -> list[RunConfig]:
    values: dict[str, Any] = {"epochs": 2, "hidden": (16, 16), "batch_size": 16, **fields}
    lrs = values.pop("lrs", (0.01, 0.1))
    return [
        RunConfig(data=data, metric=metric, seed=seed, hparams={"lr": lr}, **values)
        for lr, seed in itertools.product(lrs, (3, 11))
    ]


def assert_parity(configs: list[RunConfig]) -> None:
    data = make_dataset(configs[0].data)
    trainer = VectorizedTrainer(configs, data)
    records = trainer.run()
    for config, record, weights in zip(configs, records, trainer.state_dicts(), strict=True):
        train_losses, valid, expected = _plain_loop(config, data)
        assert record.engine == "vectorized" and record.status == "done"
        assert list(record.curve.train_loss) == train_losses, config.to_json()
        assert list(record.curve.valid_loss) == valid, config.to_json()
        for key, value in expected.items():
            torch.testing.assert_close(weights[key], value, rtol=0, atol=0, msg=key)
        reference = train_reference(config, data)  # the engine's own loop, held to the same
        assert reference.curve.train_loss == record.curve.train_loss
        assert reference.curve.valid_loss == record.curve.valid_loss


CASES = [
    # (data set, classes, metric, extra settings)
    ("spirals", "log_loss", {"batch_size": 16}),
    ("spirals", "accuracy", {"batch_size": 3, "epochs": 1}),  # per-config kernels at <= 4 rows
    ("cassini", "log_loss", {"batch_size": 8, "shuffle": True, "activation": "tanh"}),
    ("smiley", "accuracy", {"batch_size": 32, "activation": "gelu"}),
    ("hypercube", "log_loss", {"batch_size": 7, "activation": "sigmoid", "shuffle": True}),
    ("twonorm", "log_loss", {"batch_size": 64, "hidden": (8,)}),
    ("shapes", "accuracy", {"batch_size": 4, "epochs": 1, "shuffle": True}),
]


@pytest.mark.parametrize(("name", "metric", "fields"), CASES, ids=[c[0] for c in CASES])
def test_adamw_cross_entropy_is_bit_identical(name: str, metric: str, fields: Any) -> None:
    spec = DataSpec(name=name, n=301)  # 211 training rows: a partial last batch everywhere
    assert_parity(_configs(spec, metric, **fields))


def test_sgd_with_momentum_cross_entropy_is_bit_identical() -> None:
    spec = DataSpec(name="2dnormals", n=301)
    configs = [
        RunConfig(
            optimizer="sgd",
            data=spec,
            metric="log_loss",
            seed=seed,
            epochs=2,
            hidden=(16,),
            hparams={"lr": 0.05, "momentum": m},
        )
        for seed, m in itertools.product((1, 2), (0.0, 0.9))
    ]
    assert_parity(configs)


def test_one_config_alone_equals_the_same_config_in_a_group() -> None:
    spec = DataSpec(name="xor", n=301)
    configs = _configs(spec, "log_loss", epochs=1)
    alone = train_vectorized(configs[:1])
    grouped = train_vectorized(configs)
    assert alone[0].curve.valid_loss == grouped[0].curve.valid_loss
    assert alone[0].curve.train_loss == grouped[0].curve.train_loss


def test_accuracy_and_log_loss_are_what_they_say() -> None:
    """Hand-made logits: accuracy counts argmax hits; log loss is -mean log softmax."""
    model = nn.Identity()
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0], [0.5, 0.25]])  # (4, 2)
    labels = torch.tensor([0, 1, 1, 1])
    assert evaluate(model, logits, labels, "accuracy", 4) == 0.5  # rows 0 and 1 are right
    expected = -torch.log_softmax(logits, 1)[torch.arange(4), labels].mean().item()
    assert evaluate(model, logits, labels, "log_loss", 4) == pytest.approx(expected, rel=1e-6)


def test_build_mlp_gives_an_output_per_class() -> None:
    model = build_mlp(2, (8,), "relu", 5, out_features=4)
    assert model(torch.zeros(3, 2)).shape == (3, 4)


def test_a_resumed_classification_group_equals_an_uninterrupted_one() -> None:
    """Shuffled cross-entropy training stopped after epoch 2 and resumed from checkpoints."""
    spec = DataSpec(name="cassini", n=301)
    data = make_dataset(spec)
    configs = _configs(spec, "accuracy", epochs=4, shuffle=True)
    whole = train_vectorized(configs, data)
    taken: dict[int, dict[int, Any]] = {}

    def keep(checkpoints: dict[int, Any]) -> None:
        (epoch,) = {c.epoch for c in checkpoints.values()}
        taken[epoch] = checkpoints

    train_vectorized(configs, data, on_checkpoint=keep, checkpoints=EVERY_EPOCH)
    resumed = train_vectorized(configs, data, resume=[taken[2][i] for i in range(len(configs))])
    for ours, theirs in zip(resumed, whole, strict=True):
        assert ours.curve.valid_loss == theirs.curve.valid_loss
        assert ours.curve.train_loss == theirs.curve.train_loss


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is present")
def test_cuda_cross_entropy_matches_the_reference_on_cuda() -> None:
    """On a GPU the stacked log-softmax is probed against the plain CUDA kernels the same way
    (or runs per config); the loss value is the plain nll_loss_forward either way."""
    spec = DataSpec(name="cassini", n=301)
    data = make_dataset(spec)
    configs = _configs(spec, "log_loss", epochs=1)
    records = VectorizedTrainer(configs, data, device="cuda").run()
    for config, record in zip(configs, records, strict=True):
        expected = train_reference(config, data, device="cuda")
        assert record.curve.valid_loss == expected.curve.valid_loss
        assert record.curve.train_loss == expected.curve.train_loss


@pytest.mark.parametrize("metric", list(METRICS))
def test_every_registered_metric_is_computed_alike_by_both_engines(metric: str) -> None:
    """Registry-wide: a metric in optiscope.settings.METRICS must be implemented by the
    reference loop's evaluate and the vectorized engine, with the same numbers."""
    name = "xor" if METRICS[metric].task == "classification" else "friedman3"
    spec = DataSpec(name=name, n=200)
    configs = _configs(spec, metric, epochs=1, hidden=(8,))
    data = make_dataset(spec)
    for ours, config in zip(train_vectorized(configs, data), configs, strict=True):
        theirs = train_reference(config, data)
        assert ours.curve.valid_loss == theirs.curve.valid_loss
        assert all(v >= METRICS[metric].floor for v in ours.curve.valid_loss)
