"""Learning curves for plotting tests: one point per epoch, made from the losses alone."""

from __future__ import annotations

from collections.abc import Sequence

from optiscope.records import Curve


def epoch_curve(
    losses: Sequence[float],
    *,
    samples_per_epoch: int = 100,
    seconds_per_epoch: float = 0.5,
    start_seconds: float = 0.0,
) -> Curve:
    """A curve with ``losses`` as both losses at epochs 1, 2, ...: 10 steps an epoch."""
    epochs = range(1, len(losses) + 1)
    return Curve(
        epoch=tuple(epochs),
        step=tuple(10 * e for e in epochs),
        samples=tuple(samples_per_epoch * e for e in epochs),
        seconds=tuple(seconds_per_epoch * e + start_seconds for e in epochs),
        valid_loss=tuple(losses),
        train_loss=tuple(losses),
    )
