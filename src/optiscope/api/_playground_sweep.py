"""The playground on real training: the exercise's lr / beta1 / weight-decay grid, with seeds.

The web playground's training panel moves sliders through real validation curves without
training anything while the slider moves: the grid is trained once, as an ordinary sweep named
:data:`PLAYGROUND_SWEEP` in the results store (so it resumes, and ``optiscope sweeps`` lists
it), and the page loads every config's seed-averaged curve once and switches between them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from optiscope.api._sweep import StoreArg, sweep
from optiscope.api._sweep_result import SweepResult
from optiscope.settings import EXERCISE
from optiscope.sweeps import SweepSpec

__all__ = [
    "PLAYGROUND_GRID",
    "PLAYGROUND_SWEEP",
    "playground_curves",
    "playground_spec",
    "train_playground",
]

#: The sweep's name in the store.
PLAYGROUND_SWEEP = "playground"

#: The grid the sliders move through: the exercise's three AdamW settings, each around the
#: exercise's default (lr 0.01, beta1 0.9, weight decay 0.01).
PLAYGROUND_GRID: Mapping[str, tuple[float, ...]] = {
    "lr": (0.001, 0.003, 0.01, 0.03, 0.1),
    "beta1": (0.5, 0.8, 0.9, 0.95, 0.99),
    "weight_decay": (0.0, 0.01, 0.1),
}


def playground_spec(
    *,
    epochs: int = int(EXERCISE["epochs"]),
    seeds: int = 3,
    grid: Mapping[str, Sequence[float]] = PLAYGROUND_GRID,
) -> SweepSpec:
    """The playground sweep's spec: AdamW on the exercise's data and network, ``grid`` crossed,
    ``seeds`` seeds each.

    Args:
        epochs: epochs per run (the exercise's 30 by default).
        seeds: seeds per config (0 to seeds - 1), for the bands.
        grid: setting -> values (the sliders); default :data:`PLAYGROUND_GRID`.
    """
    values: dict[str, Any] = {
        "optimizer": EXERCISE["optimizer"],
        "batch_size": EXERCISE["batch_size"],
        "beta2": EXERCISE["beta2"],
        "epochs": epochs,
    }
    values.update({key: list(v) for key, v in grid.items()})
    return SweepSpec.from_values(values, seeds=seeds, name=PLAYGROUND_SWEEP)


def train_playground(
    spec: SweepSpec | None = None,
    *,
    store: StoreArg = None,
    progress: bool = False,
    max_configs: int | None = None,
) -> SweepResult:
    """Train (or resume) the playground sweep into ``store``; finished configs are skipped.

    Args:
        spec: default :func:`playground_spec`.
        store: the results store (as :func:`optiscope.sweep` takes it).
        progress: a progress bar on stderr.
        max_configs: refuse a spec above this many configs (``None``: no cap).

    Returns:
        The sweep, read back from the store.
    """
    return sweep(
        spec or playground_spec(),
        store=store,
        progress=progress,
        max_configs=max_configs,
    )


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def playground_curves(result: SweepResult) -> dict[str, Any]:
    """Every config's validation curve averaged over its seeds, JSON-ready (NaN: ``None``).

    Args:
        result: the playground sweep (finished or still running: configs without a finished
            seed are left out).

    Returns:
        ``{"name", "settings": [swept names], "values": {name: [values]}, "configs": [{
        "settings": {name: value}, "epoch": [...], "mean": [...], "sd": [...], "seeds": n,
        "diverged": n}]}``; ``sd`` is the sample standard deviation (``None`` with one seed).
    """
    import numpy as np

    names = result.settings
    frame = result.frame
    frame = frame[frame["status"].isin(("done", "diverged"))]
    configs: list[dict[str, Any]] = []
    for keys, rows in frame.groupby(names, sort=True, observed=True):
        values = keys if isinstance(keys, tuple) else (keys,)
        table = rows.pivot_table(
            index="epoch", columns="seed", values="valid_loss", aggfunc="first", dropna=False
        )
        losses = table.to_numpy(dtype=np.float64)  # (epochs, seeds)
        finite = np.isfinite(losses).all(axis=0)  # a diverged seed leaves the average
        kept = losses[:, finite]
        with np.errstate(invalid="ignore"):
            mean = kept.mean(axis=1) if kept.shape[1] else np.full(len(table), np.nan)
            sd = kept.std(axis=1, ddof=1) if kept.shape[1] > 1 else np.full(len(table), np.nan)
        settings = {n: float(v) for n, v in zip(names, values, strict=True)}  # type: ignore[arg-type]
        configs.append(
            {
                "settings": settings,
                "epoch": [int(e) for e in table.index],
                "mean": [_clean(float(v)) for v in mean],
                "sd": [_clean(float(v)) for v in sd],
                "seeds": int(finite.sum()),
                "diverged": int((~finite).sum()),
            }
        )
    return {
        "name": result.name,
        "settings": names,
        "values": {n: sorted({c["settings"][n] for c in configs}) for n in names},
        "counts": result.counts,
        "configs": configs,
    }
