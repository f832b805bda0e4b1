"""The one text grammar of the 2-D commands: ``name key=value ...``, axes and points.

Optimizers, test functions and sensitivity-map axes are written the same way on the command
line, in notebooks and in the docs::

    "momentum lr=0.01 beta=0.9"    "adam lr=0.1 betas=0.9,0.99"    "rosenbrock a=1 b=2"
    "lr=1e-3..1:32:log"            "beta=0..0.99:32"                "beta=0,0.5,0.9"
    "-1,2"

This module parses them into typed values (torch-free, layer 0, so the command line checks a
flag before torch loads). It knows nothing of flags: its errors carry the text, the piece that
is wrong and what was expected, and the command line adds the flag's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

from optiscope.errors import ConfigError

__all__ = ["Axis", "Value", "parse_axis", "parse_named", "parse_point", "parse_value"]

#: A parsed setting: ``true``/``false``, a whole number, a number, or a comma-separated tuple.
Value: TypeAlias = "bool | int | float | tuple[Value, ...]"

_AXIS_EXAMPLE = "e.g. lr=1e-3..1:64:log or beta=0,0.5,0.9"


@dataclass(frozen=True)
class Axis:
    """One axis of a sensitivity map.

    Attributes:
        name: the hyperparameter (``lr``, ``beta1``, ...).
        values: its values, in the order given.
        log: draw the axis logarithmically (an axis written with ``:log``).
    """

    name: str
    values: tuple[float, ...]
    log: bool = False


def parse_value(key: str, text: str, where: str) -> Value:
    """``"true"`` -> ``True``, ``"3"`` -> ``3``, ``"1e-3"`` -> ``0.001``, ``"0.9,0.99"`` -> a tuple.

    Args:
        key: the setting's name, for the message.
        text: the value as written.
        where: the whole text it came from, for the message.

    Raises:
        ConfigError: for a value that is none of these.
    """
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if "," in text:
        return tuple(parse_value(key, piece, where) for piece in text.split(","))
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(
            f"in {where!r}: `{key}` = {text!r} is not a number, true/false, or a comma-separated "
            "tuple (betas=0.9,0.999)."
        ) from None
    if number.is_integer() and not any(c in lowered for c in ".en") and math.isfinite(number):
        return int(number)
    return number


def parse_named(text: str, *, example: str) -> tuple[str, dict[str, Value]]:
    """Split ``"adam lr=0.1 betas=0.9,0.99"`` into ``("adam", {"lr": 0.1, "betas": (0.9, 0.99)})``.

    Args:
        text: a name, then ``key=value`` pieces separated by spaces.
        example: how such a text is written, for messages (``'rosenbrock a=1 b=2'``).

    Raises:
        ConfigError: for a text without a name, a piece that is not ``key=value``, a key
            given twice, or a value :func:`parse_value` does not read.
    """
    name, *pieces = text.split() or [""]
    if not name or "=" in name:
        raise ConfigError(f"{text!r} does not start with a name; write it like {example}.")
    settings: dict[str, Value] = {}
    for piece in pieces:
        key, sep, value = piece.partition("=")
        if not sep or not key or not value:
            raise ConfigError(
                f"in {text!r}: {piece!r} is not key=value; write it like {example} (no spaces "
                "around '=')."
            )
        if key in settings:  # the last would silently win
            raise ConfigError(f"in {text!r}: {key!r} is given twice; give it once.")
        settings[key] = parse_value(key, value, text)
    return name, settings


def parse_axis(text: str, default_n: int) -> Axis:
    """Parse ``NAME=START..STOP[:N][:log]`` or ``NAME=V1,V2,...``.

    ``lr=1e-3..1:64:log`` is 64 log-spaced values on a log axis, ``beta=0..0.99:32`` 32 evenly
    spaced ones, ``beta=0,0.5,0.9`` those three; without ``:N``, ``default_n`` values.

    Raises:
        ConfigError: saying what is wrong with ``text``.
    """
    name, sep, spec = (part.strip() for part in text.partition("="))
    if not sep or not name or not spec:
        raise ConfigError(f"{text!r} is not NAME=VALUES ({_AXIS_EXAMPLE})")
    if ".." not in spec:
        try:
            return Axis(name, tuple(float(piece) for piece in spec.split(",")))
        except ValueError:
            raise ConfigError(f"{text!r}: values must be numbers ({_AXIS_EXAMPLE})") from None
    span, *modifiers = spec.split(":")
    low, _, high = span.partition("..")
    try:
        start, stop = float(low), float(high)
    except ValueError:
        raise ConfigError(
            f"{text!r}: the range ends must be numbers, START..STOP[:N][:log] ({_AXIS_EXAMPLE})"
        ) from None
    n, log = default_n, False
    for modifier in modifiers:
        if modifier.lower() == "log":
            log = True
        elif modifier.isdigit() and int(modifier) >= 1:
            n = int(modifier)
        else:
            raise ConfigError(
                f"{text!r}: after the range comes :N (a count >= 1) and/or :log, not "
                f"{modifier!r} ({_AXIS_EXAMPLE})"
            )
    if log and (start <= 0 or stop <= 0):
        raise ConfigError(f"{text!r}: a log range needs positive ends")
    if n == 1:
        return Axis(name, (start,), log)
    if log:
        ratio = (stop / start) ** (1 / (n - 1))
        return Axis(name, tuple(start * ratio**i for i in range(n)), log)
    return Axis(name, tuple(start + (stop - start) * i / (n - 1) for i in range(n)), log)


def parse_point(text: str) -> tuple[float, float]:
    """``"-1,2"`` -> ``(-1.0, 2.0)``.

    Raises:
        ConfigError: for anything but two finite numbers.
    """
    pieces = [p.strip() for p in text.split(",")]
    try:
        if len(pieces) != 2:
            raise ValueError
        x, y = float(pieces[0]), float(pieces[1])
    except ValueError:
        raise ConfigError(f"{text!r} is not two numbers x,y (e.g. -1,2)") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ConfigError(f"{text!r} must be finite")
    return (x, y)
