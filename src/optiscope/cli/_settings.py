"""Command-line flags made from the settings registry, and the text grammar of their values.

Every setting flag of ``optiscope compare`` and ``optiscope sweep`` is generated here from
:data:`optiscope.settings.SETTINGS` (name, type, help, default), so the flags cannot drift
from the Python API and spec files. Values are comma-separated: ``--lr 0.1,0.01``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click

from optiscope.settings import SETTINGS, Setting, format_value

__all__ = ["parse_seeds", "parse_setting", "setting_options"]

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}

# How each kind of value is written on the command line (user words: this layer only).
_GRAMMAR = {
    "float": "numbers",
    "int": "whole numbers",
    "bool": "true or false",
    "widths": "layer widths joined by x (50x50), networks separated by commas",
    "pair": "pairs beta1:beta2 (0.9:0.999), separated by commas",
    "ints": "epochs joined by x (10x20), lists separated by commas",
    "str": "names",
}
# (one value, several values)
_EXAMPLES = {
    "bool": ("true or false", "true, false or true,false"),
    "widths": ("widths joined by x, e.g. 50x50", "widths joined by x, e.g. 50x50,100"),
    "pair": ("as beta1:beta2, e.g. 0.9:0.999", "as beta1:beta2, e.g. 0.9:0.999,0.5:0.9"),
    "ints": ("joined by x, e.g. 10x20", "joined by x, e.g. 10x20,5x10x15"),
}


def _parse_one(setting: Setting, piece: str) -> Any:
    kind = setting.kind
    try:
        if kind == "float":
            return float(piece)
        if kind == "int":
            return int(piece)
        if kind == "bool":
            if piece.lower() in _TRUE | _FALSE:
                return piece.lower() in _TRUE
            raise ValueError(piece)
        if kind in ("widths", "ints"):
            return tuple(int(w) for w in piece.lower().split("x"))
        if kind == "pair":
            parts = piece.split(":")
            if len(parts) != 2:
                raise ValueError(piece)
            return (float(parts[0]), float(parts[1]))
    except ValueError:
        raise click.UsageError(f"{setting.flag} takes {_GRAMMAR[kind]}, got {piece!r}") from None
    return piece


def parse_setting(name: str, text: str) -> list[Any]:
    """Parse a flag's comma-separated values (``"0.1,0.01"``) into a list of values."""
    setting = SETTINGS[name]
    pieces = [piece.strip() for piece in text.split(",")]
    if any(not piece for piece in pieces):
        raise click.UsageError(
            f"{setting.flag} {text!r} has an empty value; separate values with commas"
        )
    return [_parse_one(setting, piece) for piece in pieces]


def parse_seeds(text: str) -> int | list[int]:
    """``5`` (a count: seeds 0-4) or ``0,3,7`` (a list)."""
    pieces = [piece.strip() for piece in text.split(",")]
    try:
        numbers = [int(piece) for piece in pieces]
    except ValueError:
        raise click.UsageError(
            f"--seeds takes a count (5 means seeds 0-4) or a list (0,3,7), got {text!r}"
        ) from None
    return numbers[0] if len(numbers) == 1 else numbers


def _help(setting: Setting, default: Any, several: bool) -> str:
    text = setting.help
    if setting.choices:
        text += f": {', '.join(setting.choices)}"
    if setting.kind in _EXAMPLES:
        text += f"; {_EXAMPLES[setting.kind][several]}"
    elif several:
        text += "; several separated by commas"
    shown = setting.default_text if default is setting.default else format_value(default)
    return f"{text}.  [default: {shown}]"


def setting_options(
    names: Iterable[str],
    *,
    defaults: Mapping[str, Any] | None = None,
    several: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding one ``--flag VALUES`` option per setting, in registry order.

    Each option's value reaches the command as the raw text (``None`` when not given), to
    be read with :func:`parse_setting`; the help shows the registry's help and default.

    Args:
        names: the settings to add.
        defaults: defaults that differ from the registry's for this command (the exercise's
            for ``compare``), shown in the help; the command applies them.
        several: the flags take comma-separated lists (the help says so).
    """
    chosen = [SETTINGS[name] for name in names]
    overrides = dict(defaults or {})

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for setting in reversed(chosen):
            default = overrides.get(setting.name, setting.default)
            option = click.option(
                setting.flag,
                setting.name,
                default=None,
                metavar="VALUES" if several else "VALUE",
                help=_help(setting, default, several),
            )
            command = option(command)
        return command

    return decorate
