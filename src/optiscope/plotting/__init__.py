"""Figures: ``build_*`` returns plain data (tested without matplotlib), ``render_*`` draws it."""

from optiscope.plotting._curves import (
    X_AXES,
    CurveLine,
    CurvesData,
    build_curves,
    check_x_axis,
    render_curves,
    robust_upper_limit,
)
from optiscope.plotting._save import FIGURE_FORMATS, save_figure

__all__ = [
    "FIGURE_FORMATS",
    "X_AXES",
    "CurveLine",
    "CurvesData",
    "build_curves",
    "check_x_axis",
    "render_curves",
    "robust_upper_limit",
    "save_figure",
]
