"""Writing figures to files, with a clear error for an unsupported format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from optiscope.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGURE_FORMATS", "save_figure"]

FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG, SVG or PDF, chosen by the file's suffix; create missing folders.

    Raises:
        ConfigError: for another suffix (nothing is written).
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        raise ConfigError(
            f"cannot save a figure as {path.name!r}: the file name must end in "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=suffix, dpi=dpi)
    return path
