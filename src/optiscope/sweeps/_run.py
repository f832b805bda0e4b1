"""The one place that decides what runs where: configs in, records out, in config order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from optiscope.data import Dataset, make_dataset
from optiscope.engine import train_reference, validate_config
from optiscope.errors import ConfigError
from optiscope.records import DataSpec, RunConfig, RunRecord

__all__ = ["ENGINES", "RecordCallback", "run_configs"]

ENGINES: tuple[str, ...] = ("reference",)

RecordCallback = Callable[[RunRecord], None]


def run_configs(
    configs: Sequence[RunConfig],
    *,
    data: Dataset | None = None,
    engine: str = "reference",
    device: str = "cpu",
    on_record: RecordCallback | None = None,
) -> list[RunRecord]:
    """Train every config and return their records in the same order.

    Every config is validated before anything trains.

    Args:
        configs: the runs.
        data: one data set for all runs (user arrays); ``None`` builds each config's
            ``config.data`` (once per distinct spec).
        engine: ``reference`` (the plain PyTorch loop).
        device: where to train.
        on_record: called with each record as soon as it is finished (progress, storage).

    Raises:
        ConfigError: naming the config number and every problem; nothing has been run.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}.")
    for number, config in enumerate(configs, start=1):
        validate_config(config, where=f"config {number} of {len(configs)}: ")
    datasets: dict[DataSpec, Dataset] = {}
    records = []
    for config in configs:
        if data is not None:
            dataset = data
        else:
            dataset = datasets.get(config.data) or datasets.setdefault(
                config.data, make_dataset(config.data)
            )
        record = train_reference(config, dataset, device=device)
        if on_record is not None:
            on_record(record)
        records.append(record)
    return records
