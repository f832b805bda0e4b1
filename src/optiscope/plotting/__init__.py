"""Figures: ``build_*`` returns plain data (tested without matplotlib), ``render_*`` draws it."""

from optiscope.plotting._bands import (
    BandLine,
    BandsData,
    Difference,
    SeedLine,
    band_title,
    build_bands,
    paired_differences,
    render_band_panels,
    render_bands,
)
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
from optiscope.plotting._stats import BANDS, Interval, interval, t_quantile

__all__ = [
    "BANDS",
    "FIGURE_FORMATS",
    "X_AXES",
    "BandLine",
    "BandsData",
    "CurveLine",
    "CurvesData",
    "Difference",
    "Interval",
    "SeedLine",
    "band_title",
    "build_bands",
    "build_curves",
    "check_x_axis",
    "interval",
    "paired_differences",
    "render_band_panels",
    "render_bands",
    "render_curves",
    "robust_upper_limit",
    "save_figure",
    "t_quantile",
]
