"""Writing figures to files and to notebooks, with a clear error for an unsupported format.

Figures are made through pyplot (:func:`optiscope.plotting._style.new_figure`), so one that is
only written somewhere is closed once written: a command or a notebook that draws many leaves
none open (and never meets pyplot's "more than 20 figures" warning).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

from optiscope.errors import ConfigError
from optiscope.plotting._style import close_figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["FIGURE_FORMATS", "figure_html", "figure_png", "save_figure"]

FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")

#: Rows of a table shown beside a figure in a notebook (longer tables are cut in the middle).
HTML_ROWS = 20


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120, close: bool = False) -> Path:
    """Save ``fig`` as PNG, SVG or PDF, chosen by the file's suffix; create missing folders.

    Args:
        fig: the figure.
        path: where to write it.
        dpi: resolution of a PNG.
        close: close ``fig`` afterwards (for a figure made only to be written).

    Raises:
        ConfigError: for another suffix (nothing is written).
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        if close:
            close_figure(fig)
        raise ConfigError(
            f"cannot save a figure as {path.name!r}: the file name must end in "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)}."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=suffix, dpi=dpi)
    finally:
        if close:
            close_figure(fig)
    return path


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes (a notebook's ``_repr_png_``); closes it, so it is shown once."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        close_figure(fig)
    return buffer.getvalue()


def figure_html(fig: Figure, table: pd.DataFrame, *, title: str = "") -> str:
    """The figure with a table beside it, as HTML (a notebook's ``_repr_html_``); closes it.

    Args:
        fig: the figure (embedded as a PNG).
        table: shown beside it (at most ``HTML_ROWS`` rows).
        title: a line above both.
    """
    png = base64.b64encode(figure_png(fig)).decode("ascii")
    heading = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    return (
        f"<div>{heading}"
        '<div style="display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start">'
        f'<img src="data:image/png;base64,{png}" style="max-width: 100%">'
        f"<div>{table.to_html(index=False, max_rows=HTML_ROWS, na_rep='')}</div>"
        "</div></div>"
    )
