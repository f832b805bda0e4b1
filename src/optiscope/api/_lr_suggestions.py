"""fastai's four lr suggestions, implemented from their definitions.

fastai's ``Learner.lr_find`` (``fastai/callback/schedule.py``) reads suggestions off the
recorded (smoothed) losses after trimming: the first ``steps // 10`` points and the last 5 are
dropped, and everything from the first NaN on (here: the first value that is not finite).
On what is left, ``lrs`` and ``losses``:

- ``valley`` (by ESRI, fastai's default): the longest run of decreasing losses (a longest
  strictly decreasing subsequence, found by dynamic programming, ending where it is longest);
  the suggestion is the point about 2/3 of the way along it:
  ``start + int(length / 3) + int(length / 6)`` (``length = end - start``).
- ``slide`` (Andrew Chang's interval slide rule): with the loss gradient ``g`` (``np.gradient``
  of the losses over their index), walk a window of ``lr_diff = 15`` points leftwards from the
  end while ``|g[right] - g[left]| > thresh = 0.005``; the suggestion is the lr at the window's
  left end when the walk stops (times ``adjust_value = 1``).
- ``minimum``: one tenth of the lr with the lowest loss.
- ``steep``: the lr where the loss falls fastest against ``log(lr)``:
  ``argmin over i of (loss[i+1] - loss[i]) / (log lr[i+1] - log lr[i])``, at ``lr[i]``.

Each returns the suggested lr and the point to mark on the curve (an lr and its loss); NaN
where the trimmed curve is too short to define it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["SUGGESTIONS", "suggest", "trim"]

Point = tuple[float, float, float]  # (suggested lr, marked lr, marked loss)
NAN_POINT: Point = (math.nan, math.nan, math.nan)

#: fastai's trimming of the recorded curve before suggesting: the last points dropped.
SKIP_END = 5


def trim(
    lrs: Sequence[float], losses: Sequence[float], steps: int
) -> tuple[list[float], list[float]]:
    """``lrs[steps // 10 : -5]`` and the same of ``losses``, cut at the first value that is not
    finite (fastai cuts at the first NaN)."""
    first = steps // 10
    kept_lrs = list(lrs[first : len(lrs) - SKIP_END])
    kept = list(losses[first : len(losses) - SKIP_END])
    for index, value in enumerate(kept):
        if not math.isfinite(value):
            return kept_lrs[:index], kept[:index]
    return kept_lrs, kept


def valley(lrs: Sequence[float], losses: Sequence[float]) -> Point:
    """fastai's ``valley`` (see the module docstring)."""
    n = len(losses)
    if n == 0:
        return NAN_POINT
    max_start, max_end = 0, 0
    lengths = [1] * n  # longest decreasing subsequence ending at i
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
            if lengths[max_end] < lengths[i]:
                max_end = i
                max_start = max_end - lengths[max_end]
    sections = (max_end - max_start) / 3
    index = max_start + int(sections) + int(sections / 2)
    return (float(lrs[index]), float(lrs[index]), float(losses[index]))


def slide(
    lrs: Sequence[float],
    losses: Sequence[float],
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> Point:
    """fastai's ``slide`` (see the module docstring)."""
    if len(losses) <= lr_diff:
        return NAN_POINT
    gradient = np.gradient(np.asarray(losses, dtype=np.float64))
    right = -1
    left = right - lr_diff
    local_min_lr = lrs[left]
    while left >= -len(losses) and abs(gradient[right] - gradient[left]) > thresh:
        local_min_lr = lrs[left]
        right -= 1
        left -= 1
    suggestion = float(local_min_lr) * adjust_value
    loss = float(np.interp(math.log10(suggestion), np.log10(lrs), losses))
    return (suggestion, suggestion, loss)


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> Point:
    """fastai's ``minimum``: a tenth of the lr of the lowest loss (marked at that lr)."""
    if not losses:
        return NAN_POINT
    index = int(np.argmin(losses))
    return (float(lrs[index]) / 10, float(lrs[index]), float(losses[index]))


def steep(lrs: Sequence[float], losses: Sequence[float]) -> Point:
    """fastai's ``steep``: the lr where the loss falls fastest against ``log(lr)``."""
    if len(losses) < 2:
        return NAN_POINT
    values, rates = np.asarray(losses, dtype=np.float64), np.log(np.asarray(lrs, dtype=np.float64))
    slopes = np.diff(values) / np.diff(rates)  # (n - 1,)
    index = int(np.argmin(slopes))
    return (float(lrs[index]), float(lrs[index]), float(values[index]))


#: The suggestion methods by name, in fastai's order of ``SuggestionMethod``.
SUGGESTIONS: dict[str, Callable[[Sequence[float], Sequence[float]], Point]] = {
    "valley": valley,
    "slide": slide,
    "minimum": minimum,
    "steep": steep,
}


def suggest(lrs: Sequence[float], smoothed: Sequence[float], steps: int) -> dict[str, Point]:
    """Every suggestion for one range test's recorded lrs and smoothed losses."""
    kept_lrs, kept = trim(lrs, smoothed, steps)
    return {name: method(kept_lrs, kept) for name, method in SUGGESTIONS.items()}
