"""The lr each config used, per epoch: what its schedule did (``build_lr_curves`` ->
``render_curves``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from optiscope.errors import ConfigError
from optiscope.plotting._curves import CurveLine, CurvesData, check_x_axis, x_axis_label
from optiscope.records import RunRecord

__all__ = ["LR_LABEL", "build_lr_curves"]

LR_LABEL = "learning rate (the epoch's last step)"
"""The y-axis: a per-step schedule changes lr within an epoch; the curve holds the last."""


def build_lr_curves(
    records: Sequence[RunRecord],
    labels: Sequence[str],
    *,
    x: str = "epoch",
    log_y: bool = False,
    title: str = "",
) -> CurvesData:
    """One line per record: the lr of each epoch's last optimizer step, as recorded.

    Args:
        records: one record per line (a config's seeds share their lrs: pass one of them).
        labels: one legend label per record.
        x: ``epoch``, ``step``, ``samples`` or ``seconds``.
        log_y: logarithmic y-axis (an lr range test, an exponential decay).
        title: figure title.

    Returns:
        Plain data for :func:`optiscope.plotting.render_curves`; records stored before lrs
        were recorded have no line, and the note says how many.

    Raises:
        ConfigError: for an unknown ``x`` or mismatched ``labels``.
    """
    check_x_axis(x)
    if len(labels) != len(records):
        raise ConfigError(f"got {len(labels)} labels for {len(records)} records.")
    lines, missing = [], 0
    for record, label in zip(records, labels, strict=True):
        if not record.curve.lr:
            missing += len(record.curve) > 0
            continue
        points = [
            (float(px), lr)
            for px, lr in zip(getattr(record.curve, x), record.curve.lr, strict=True)
            if math.isfinite(lr) and (lr > 0 or not log_y)
        ]
        lines.append(
            CurveLine(
                label=label,
                x=tuple(p[0] for p in points),
                y=tuple(p[1] for p in points),
                status=record.status,
                x_name=x,
            )
        )
    values = [y for line in lines for y in line.y]
    y_limits = None
    if values:
        low, high = min(values), max(values)
        if log_y:
            y_limits = (low / 1.3, high * 1.3)
        else:
            pad = 0.05 * (high - low) if high > low else 0.05 * max(abs(high), 1e-12)
            y_limits = (min(0.0, low - pad), high + pad)
    note = f"{missing} run(s) stored before lrs were recorded: not drawn" if missing else ""
    if not values and not note:
        note = "no lr to draw"
    return CurvesData(
        lines=tuple(lines),
        x=x,
        x_label=x_axis_label(x, records),
        y_label=LR_LABEL,
        y_limits=y_limits,
        log_y=log_y,
        title=title,
        note=note,
    )
