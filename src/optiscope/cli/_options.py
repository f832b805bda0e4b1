"""Parsing helpers shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["parse_number_list"]


def parse_number_list(flag: str, text: str, kind: Callable[[str], float | int]) -> list[Any]:
    """Parse ``"1,0.1,0.01"`` into numbers of ``kind`` (``int`` or ``float``).

    Raises:
        click.UsageError: naming the flag and the piece that is not a number.
    """
    pieces = [piece.strip() for piece in text.split(",")]
    values = []
    for piece in pieces:
        if not piece:
            raise click.UsageError(
                f"{flag} {text!r} has an empty value; separate values with commas"
            )
        try:
            values.append(kind(piece))
        except ValueError:
            what = "whole numbers" if kind is int else "numbers"
            raise click.UsageError(f"{flag} takes {what}, got {piece!r}") from None
    return values
