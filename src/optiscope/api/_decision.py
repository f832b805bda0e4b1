"""Decision boundaries of trained 2-D classifiers: the networks' class probabilities on a grid.

Runs store curves, not weights, so the networks are trained again: the engines are
deterministic (the vectorized engine equals the plain loop bit for bit), so these are the
weights the runs ended with. Configs that train in lockstep train as one stacked group.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import partial

import numpy as np
import torch
from torch import Tensor

from optiscope.data import Dataset, make_dataset
from optiscope.engine import InexactError, VectorizedTrainer, lockstep_key, train_reference
from optiscope.errors import ConfigError
from optiscope.models import build_mlp
from optiscope.plotting import DecisionData, build_decision_boundaries, decision_grid
from optiscope.records import RunConfig
from optiscope.settings import METRICS

__all__ = ["decision_data", "trained_weights"]


def trained_weights(configs: Sequence[RunConfig], data: Dataset) -> list[dict[str, Tensor]]:
    """Each config's final weights as a ``state_dict`` of :func:`optiscope.models.build_mlp`'s
    model, trained on ``data`` (lockstep groups stacked, the rest by the reference loop)."""
    groups: dict[Hashable, list[int]] = {}
    for index, config in enumerate(configs):
        groups.setdefault(lockstep_key(config), []).append(index)
    weights: list[dict[str, Tensor] | None] = [None] * len(configs)
    for key, indices in groups.items():
        if key is not None:
            try:
                trainer = VectorizedTrainer([configs[i] for i in indices], data)
            except InexactError:
                pass  # this machine cannot stack them exactly: the plain loop below
            else:
                trainer.run()
                for i, state in zip(indices, trainer.state_dicts(), strict=True):
                    weights[i] = state
                continue
        for i in indices:
            model = _model(configs[i], data)
            train_reference(configs[i], data, model_factory=partial(_same_model, model))
            weights[i] = model.state_dict()
    return [w for w in weights if w is not None]


def _same_model(model: torch.nn.Module) -> torch.nn.Module:
    return model


def _model(config: RunConfig, data: Dataset) -> torch.nn.Sequential:
    return build_mlp(
        data.n_features,
        config.hidden,
        config.activation,
        config.seed,
        out_features=data.n_outputs,
    )


def decision_data(
    labels: Sequence[str],
    configs: Sequence[RunConfig],
    *,
    scores: Sequence[float | None] | None = None,
    statuses: Sequence[str] | None = None,
    title: str = "",
    resolution: int = 80,
) -> DecisionData:
    """The decision-boundary small multiples of ``configs`` (one panel each).

    Args:
        labels: a label per config.
        configs: trained on their (shared) data set again to get their weights.
        scores: each config's validation metric, shown in its panel.
        statuses: each run's status.
        title: the figure's title.
        resolution: grid points per axis.

    Returns:
        Plain data for :func:`optiscope.plotting.render_decision_boundaries`: the predicted
        class and its probability on a grid around the data, and the validation points.

    Raises:
        ConfigError: when there are no configs, they train on different data, or the data
            is not a 2-D classification set.
    """
    if not configs:
        raise ConfigError("no configs to draw; decision boundaries need at least one run.")
    specs = {config.data for config in configs}
    if len(specs) > 1:
        raise ConfigError(
            f"these {len(configs)} configs train on {len(specs)} different data sets; decision "
            "boundaries are drawn over one. Draw each data set's configs on their own."
        )
    data = make_dataset(configs[0].data)
    if not data.n_classes or data.n_features != 2:
        kind = "classification" if data.n_classes else "regression"
        raise ConfigError(
            f"decision boundaries need a 2-D classification set; {data.spec.name} is a "
            f"{kind} set with {data.n_features} features. 2-D sets: spirals, circle, xor, "
            "cassini, 2dnormals, smiley, shapes."
        )
    everything = torch.cat([data.X_train, data.X_valid]).numpy()  # (N, 2)
    xs, ys, inputs = decision_grid(everything, resolution)
    grid = torch.from_numpy(inputs)  # (H * W, 2)
    probabilities = []
    for config, state in zip(configs, trained_weights(configs, data), strict=True):
        model = _model(config, data)
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            probabilities.append(torch.softmax(model(grid), dim=1).numpy())  # (H * W, C)
    return build_decision_boundaries(
        labels,
        probabilities,
        xs,
        ys,
        data.X_valid.numpy(),
        np.asarray(data.y_valid.numpy()),
        scores=scores,
        statuses=statuses,
        title=title,
        score_label=METRICS[configs[0].metric].axis_label,
    )
