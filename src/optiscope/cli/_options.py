"""Parsing helpers shared by the commands."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import click

__all__ = ["check_output", "confirm_size", "format_seconds", "out_option", "parse_number_list"]

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
FIGURE_HELP = "Figure file (.png, .svg or .pdf)"


def out_option(
    default: str, *, fixed: bool = False, what: str = FIGURE_HELP
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--out`` option of a command that writes one file.

    Args:
        default: the file written when ``--out`` is not given: a fixed name (``fixed=True``,
            the option's default) or a pattern the command fills in, such as
            ``"lr-NAME.png"`` (the option's value is then ``None``).
        fixed: whether ``default`` is the file name itself.
        what: what the file is, for the help text.
    """
    if fixed:
        return click.option(
            "--out",
            type=click.Path(dir_okay=False, path_type=Path),
            default=Path(default),
            show_default=True,
            help=f"{what}.",
        )
    return click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"{what}  [default: {default}]",
    )


def check_output(path: Path | None, suffixes: Sequence[str], flag: str) -> None:
    """Before any work: ``path`` ends in one of ``suffixes`` and can be written.

    Nothing is created: an existing file must be writable; otherwise the nearest folder that
    exists on the way to it must be a folder in which a file can be made (a scratch file is
    made there and removed), so that a mistyped or read-only location fails now, in one
    line, not after minutes of training. The folders themselves are made when the file is
    written.

    Raises:
        click.BadParameter: naming the flag, the path and what is wrong.
    """
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise click.BadParameter(
            f"{str(path)!r} must end in {' or '.join(suffixes)}", param_hint=flag
        )
    if path.is_dir():
        raise click.BadParameter(f"{str(path)!r} is a folder, not a file", param_hint=flag)
    try:
        if path.exists():
            with path.open("ab"):  # opening to append changes nothing
                return
        folder = next(p for p in path.parents if p.exists())  # "." ends a relative path
        if not folder.is_dir():
            raise click.BadParameter(
                f"cannot write {str(path)!r}: {str(folder)!r} is a file, not a folder",
                param_hint=flag,
            )
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".optiscope-check-"):
            pass
    except OSError as err:
        raise click.BadParameter(
            f"cannot write {str(path)!r}: {err.strerror or err}", param_hint=flag
        ) from None


#: Runs that would train more configs than this ask first (``--yes`` skips the question).
CONFIRM_CONFIGS = 500
#: Runs estimated to train longer than this (seconds, on one core) ask first, with the
#: estimate (``--yes`` skips the question).
CONFIRM_SECONDS = 3600.0


def format_seconds(seconds: float) -> str:
    """``"40 s"``, ``"12 min"``, ``"3.5 h"``, ``"41 days"``: an estimate's size at a glance."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def confirm_size(
    plan: Any,
    yes: bool,
    *,
    todo: Collection[str] | None = None,
    seconds: float | None = None,
) -> None:
    """Before training: ask (or, without a terminal, refuse) when a plan is large or long.

    Args:
        plan: the checked :class:`~optiscope.sweeps.Plan`.
        yes: the user said ``--yes``: ask nothing.
        todo: keys of the configs that would train now (``None``: all; the rest are stored).
        seconds: their estimated training time, where the caller has it already.

    Raises:
        click.UsageError: without a terminal, naming the size or estimate and ``--yes``.
        click.Abort: when the user answers no.
    """
    count = len(plan.points) if todo is None else len(todo)
    if yes or count == 0:
        return
    if seconds is None:
        seconds = plan.estimate_seconds(None if todo is None else set(todo))
    reasons = []
    if count > CONFIRM_CONFIGS:
        reasons.append(f"{count:,} configs (more than {CONFIRM_CONFIGS})")
    if seconds > CONFIRM_SECONDS:
        reasons.append(f"for an estimated {format_seconds(seconds)} on one core")
    if not reasons:
        return
    configs = f"{count:,} config{'s' if count != 1 else ''}"
    what = " ".join(reasons) if count > CONFIRM_CONFIGS else f"{configs} {reasons[0]}"
    if not sys.stdin.isatty():
        raise click.UsageError(f"this would train {what}; add --yes to run it")
    click.confirm(f"This would train {what}. Go on?", abort=True, err=True)


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
