"""Decision boundaries of 2-D classifiers, one small panel per config.

:func:`decision_grid` says where to evaluate the networks (a grid around the data);
whoever holds trained networks (the result objects in :mod:`optiscope.api`) evaluates them
there and passes the class probabilities to :func:`build_decision_boundaries`, which returns
plain data; :func:`render_decision_boundaries` draws it: each panel shades the predicted
class, paler where the network is less sure, with the data's points on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optiscope.errors import ConfigError
from optiscope.plotting._style import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BoundaryPanel",
    "DecisionData",
    "build_decision_boundaries",
    "decision_grid",
    "render_decision_boundaries",
]

MARGIN = 0.1
"""The grid reaches this share of the data's range beyond its extreme points."""

PANEL_COLUMNS = 4
"""Panels per row of the small multiples."""


def decision_grid(
    points: Any, resolution: int = 80, margin: float = MARGIN
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``resolution x resolution`` grid around 2-D ``points``.

    Args:
        points: ``(N, 2)`` array-like.
        resolution: grid points per axis (at least 2).
        margin: share of each axis' range added on both sides.

    Returns:
        ``(xs, ys, inputs)``: the axes' coordinates ``(W,)``, ``(H,)`` and the grid's points
        row by row, ``(H * W, 2)`` float32, ready for a network.

    Raises:
        ConfigError: for points that are not 2-D or a resolution below 2.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ConfigError(
            f"decision boundaries are drawn for 2-D data; got points of shape {array.shape}. "
            "Use a data set with 2 features (spirals, circle, xor, cassini, 2dnormals, smiley, "
            "shapes)."
        )
    if resolution < 2:
        raise ConfigError(f"`resolution` = {resolution} must be at least 2.")
    low, high = array.min(axis=0), array.max(axis=0)
    pad = margin * np.where(high > low, high - low, 1.0)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # (H, W) each
    inputs = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)  # (H * W, 2)
    return xs, ys, inputs


@dataclass(frozen=True)
class BoundaryPanel:
    """One config's panel.

    Attributes:
        label: the config's label.
        predicted: the predicted class per grid point, ``H`` rows of ``W``.
        confidence: the predicted class's probability per grid point (``1/C`` to 1).
        score: the config's validation metric at its last epoch (``None`` if unknown).
        status: the run's status (``done``, ``diverged``).
    """

    label: str
    predicted: tuple[tuple[int, ...], ...]
    confidence: tuple[tuple[float, ...], ...]
    score: float | None
    status: str

    @property
    def title(self) -> str:
        if self.status != "done":
            return f"{self.label}\n({self.status})"
        if self.score is None or not math.isfinite(self.score):
            return self.label
        return f"{self.label}\n{self.score:.3g}"


@dataclass(frozen=True)
class DecisionData:
    """Everything the small multiples show.

    Attributes:
        panels: one per config, in order.
        xs, ys: the grid's coordinates along each axis.
        points: the data's points ``(x, y)`` drawn on every panel.
        classes: each point's class.
        n_classes: classes of the data set.
        title: the figure's title.
        score_label: what a panel's number is (``Validation accuracy (higher is better)``).
    """

    panels: tuple[BoundaryPanel, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    points: tuple[tuple[float, float], ...]
    classes: tuple[int, ...]
    n_classes: int
    title: str
    score_label: str

    def to_json_dict(self) -> dict[str, Any]:
        """The data as JSON-ready values (for the web page)."""
        return {
            "panels": [
                {
                    "label": p.label,
                    "predicted": [list(row) for row in p.predicted],
                    "confidence": [list(row) for row in p.confidence],
                    "score": p.score if p.score is not None and math.isfinite(p.score) else None,
                    "status": p.status,
                }
                for p in self.panels
            ],
            "xs": list(self.xs),
            "ys": list(self.ys),
            "points": [list(p) for p in self.points],
            "classes": list(self.classes),
            "n_classes": self.n_classes,
            "title": self.title,
            "score_label": self.score_label,
        }


def build_decision_boundaries(
    labels: Sequence[str],
    probabilities: Sequence[Any],
    xs: Any,
    ys: Any,
    points: Any,
    classes: Any,
    *,
    scores: Sequence[float | None] | None = None,
    statuses: Sequence[str] | None = None,
    title: str = "",
    score_label: str = "",
) -> DecisionData:
    """The small multiples' data from each config's class probabilities on a grid.

    Args:
        labels: one label per config.
        probabilities: per config, ``(H * W, C)`` or ``(H, W, C)`` class probabilities on the
            grid of :func:`decision_grid` (rows of ``W`` points from the lowest ``y`` up).
            NaN (a diverged network) gives class -1 and confidence 0: drawn blank.
        xs, ys: the grid's axes, ``(W,)`` and ``(H,)``.
        points: the data's points, ``(N, 2)``.
        classes: their classes, ``(N,)``.
        scores: each config's validation metric, shown under its label.
        statuses: each run's status (default ``done``).
        title: the figure's title.
        score_label: what the scores are.

    Raises:
        ConfigError: when the numbers of labels, probabilities, scores or statuses differ,
            or a probability grid does not fit ``xs`` and ``ys``.
    """
    count = len(labels)
    scores = list(scores) if scores is not None else [None] * count
    statuses = list(statuses) if statuses is not None else ["done"] * count
    if not len(probabilities) == len(scores) == len(statuses) == count:
        raise ConfigError(
            f"got {count} labels, {len(probabilities)} probability grids, {len(scores)} "
            f"scores and {len(statuses)} statuses; give one of each per config."
        )
    width, height = len(xs), len(ys)
    n_classes = 0
    panels = []
    for label, grid, score, status in zip(labels, probabilities, scores, statuses, strict=True):
        array = np.asarray(grid, dtype=np.float64)
        if array.ndim == 2 and array.shape[0] == width * height:
            array = array.reshape(height, width, -1)
        if array.shape[:2] != (height, width) or array.ndim != 3:
            raise ConfigError(
                f"the probabilities of {label!r} have shape {np.shape(grid)}; the grid needs "
                f"({height * width}, C) or ({height}, {width}, C)."
            )
        n_classes = max(n_classes, int(array.shape[2]))
        valid = np.isfinite(array).all(axis=2)  # (H, W)
        safe = np.where(np.isfinite(array), array, 0.0)
        predicted = np.where(valid, safe.argmax(axis=2), -1)
        confidence = np.where(valid, safe.max(axis=2), 0.0)
        panels.append(
            BoundaryPanel(
                label=label,
                predicted=tuple(tuple(int(v) for v in row) for row in predicted),
                confidence=tuple(tuple(float(v) for v in row) for row in confidence),
                score=None if score is None else float(score),
                status=status,
            )
        )
    point_array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    class_array = np.asarray(classes).reshape(-1)
    return DecisionData(
        panels=tuple(panels),
        xs=tuple(float(v) for v in xs),
        ys=tuple(float(v) for v in ys),
        points=tuple((float(a), float(b)) for a, b in point_array),
        classes=tuple(int(c) for c in class_array),
        n_classes=max(n_classes, int(class_array.max()) + 1 if class_array.size else 0),
        title=title,
        score_label=score_label,
    )


def render_decision_boundaries(data: DecisionData, *, columns: int = PANEL_COLUMNS) -> Figure:
    """Draw the small multiples: predicted class shaded (paler where less sure), the data's
    points on top in their class's colour, the config and its score above each panel.

    Args:
        data: from :func:`build_decision_boundaries`.
        columns: panels per row.

    Returns:
        A new figure.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_rgb

    count = max(len(data.panels), 1)
    cols = min(columns, count)
    rows = -(-count // cols)
    fig = new_figure((2.8 * cols + 0.4, 2.8 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    cmap = colormaps["tab10"]
    colors = np.array([to_rgb(cmap(c % 10)) for c in range(max(data.n_classes, 1))])  # (C, 3)
    extent = (data.xs[0], data.xs[-1], data.ys[0], data.ys[-1])
    points = np.asarray(data.points).reshape(-1, 2)
    classes = np.asarray(data.classes, dtype=int)
    chance = 1.0 / max(data.n_classes, 1)
    for index, ax in enumerate(axes.ravel()):
        if index >= len(data.panels):
            ax.set_visible(False)
            continue
        panel = data.panels[index]
        predicted = np.asarray(panel.predicted)  # (H, W)
        confidence = np.asarray(panel.confidence)
        # sure: the class's colour; at chance: white (blank where the network diverged)
        strength = np.clip((confidence - chance) / max(1 - chance, 1e-12), 0, 1)[..., None]
        image = np.where(
            (predicted >= 0)[..., None],
            (1 - 0.55 * strength) + 0.55 * strength * colors[np.clip(predicted, 0, None)],
            1.0,
        )
        ax.imshow(image, origin="lower", extent=extent, aspect="auto", interpolation="nearest")
        if len(points):
            ax.scatter(
                points[:, 0],
                points[:, 1],
                c=colors[classes],
                s=6,
                linewidths=0.3,
                edgecolors="white",
            )
        ax.set_title(panel.title, fontsize="small")
        ax.tick_params(labelsize="x-small")
    lines = [data.title] if data.title else []
    if data.score_label:
        lines.append(f"under each config: {data.score_label}")
    if lines:
        fig.suptitle("\n".join(lines), fontsize="medium")
    return fig
