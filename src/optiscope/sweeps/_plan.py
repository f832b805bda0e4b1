"""``plan``: the first stage of every run: count, check and expand a spec, once.

Every entry point goes through the same stages::

    plan (count, check, expand, key)  ->  run (a backend)  ->  store  ->  result

``compare_configs`` is a one-axis plan run on an in-memory store, ``sweep`` and the CLI a plan
run on a file store. A :class:`Plan` is checked and complete: nothing downstream expands or
validates it again.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optiscope.engine import estimate_seconds
from optiscope.errors import TooManyConfigsError
from optiscope.sweeps._spec import SweepPoint, SweepSpec

if TYPE_CHECKING:
    from optiscope.data import Dataset

__all__ = ["MAX_CONFIGS", "Plan", "plan"]

#: The largest sweep planned without being asked for explicitly (``max_configs=None``, or
#: ``--yes`` on the command line): counted from the spec's sizes before anything is expanded.
MAX_CONFIGS = 100_000


@dataclass(frozen=True)
class Plan:
    """A checked, expanded sweep: what a backend runs and a store records.

    Attributes:
        spec: the spec, with its name filled in.
        points: every distinct config, in order, with its key.
        data: the data set of arrays the user passed (``None``: each config's data spec).
    """

    spec: SweepSpec
    points: tuple[SweepPoint, ...]
    data: Dataset | None = None

    @property
    def name(self) -> str:
        """The sweep's name in the store."""
        assert self.spec.name is not None
        return self.spec.name

    @functools.cached_property
    def keys(self) -> list[str]:
        """Each config's key, in order (hashed once per plan)."""
        return [p.config.key() for p in self.points]

    def describe(self) -> str:
        """The size as a product (``3 lr × 5 seeds = 15 configs``)."""
        return self.spec.describe(distinct=len(self.points))

    def estimate_seconds(self, keys: set[str] | None = None) -> float:
        """Estimated seconds of training on one core (a rough model, for warnings).

        Args:
            keys: only these configs (``None``: all).
        """
        groups: dict[tuple[object, ...], list[SweepPoint]] = defaultdict(list)
        for point, key in zip(self.points, self.keys, strict=True):
            if keys is None or key in keys:
                c = point.config
                groups[(c.optimizer, c.batch_size, c.epochs, c.hidden, c.data)].append(point)
        n_train = self.data.n_train if self.data is not None else None
        return math.fsum(
            estimate_seconds(group[0].config, len(group), n_train=n_train)
            for group in groups.values()
        )


def plan(
    spec: SweepSpec,
    *,
    data: Dataset | None = None,
    max_configs: int | None = MAX_CONFIGS,
) -> Plan:
    """Count, check and expand ``spec``: the one place a spec becomes configs.

    Args:
        spec: the sweep.
        data: arrays the user passed, as a :class:`~optiscope.data.Dataset` (``None``: each
            config's data settings).
        max_configs: refuse specs that count more configs (``None``: no cap). Counting
            takes microseconds; expanding 10^7 configs would take minutes and gigabytes.

    Returns:
        The :class:`Plan`.

    Raises:
        TooManyConfigsError: above ``max_configs``; nothing was expanded.
        ConfigError: listing every problem, with the config numbers it affects.
    """
    if max_configs is not None and spec.size > max_configs:
        raise TooManyConfigsError(spec.size, max_configs)
    points = spec.expand(data=data.spec if data is not None else None)
    name = spec.resolved_name
    if spec.name != name:
        spec = dataclasses.replace(spec, name=name)
    return Plan(spec=spec, points=tuple(points), data=data)
