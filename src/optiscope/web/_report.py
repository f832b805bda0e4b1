"""``optiscope report NAME --out sweep.html``: the sweep page as one self-contained file.

The file is the server's own sweep page (``static/sweep.html``) with every stylesheet and
script inlined (uPlot, the page's JS and CSS) and the data the page would fetch computed
now, by the same functions the server uses (:func:`sweep_meta`, :func:`sweep_view`). It
opens from disk with no server and no network; the filters that the server would apply
(top-k, hide diverged, final or best, each x-axis and band) run in the page over the inline
data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

from optiscope.api import SweepResult
from optiscope.web._sweeps import Band, ViewQuery, XAxis, sweep_meta, sweep_view

__all__ = ["MAX_BASELINES", "MAX_REPORT_LINES", "build_report", "report_data", "write_report"]

STATIC = Path(__file__).parent / "static"

#: Configs whose curves a report carries at most (best first); the table keeps every one.
MAX_REPORT_LINES = 500
#: Baselines whose paired differences a report carries (every config when there are at most
#: this many, else none but the best).
MAX_BASELINES = 40

_X_AXES: tuple[XAxis, ...] = get_args(XAxis)
_BANDS: tuple[Band, ...] = get_args(Band)


def report_data(result: SweepResult, store: Path) -> dict[str, Any]:
    """Everything the page shows, for every choice of its server-side controls."""
    lines = min(len(result.labels), MAX_REPORT_LINES) or 1
    frames: dict[Any, Any] = {}  # summary() by (baseline, confidence), computed once each
    views = {
        (x, band): sweep_view(result, ViewQuery(x=x, band=band, top=lines), frames)
        for x in _X_AXES
        for band in _BANDS
    }
    first = views[("epoch", "std")]
    ranked = [row["config"] for row in first["summary"]["rows"]]
    baselines = ranked if len(ranked) <= MAX_BASELINES else ranked[:1]
    summaries = {"": first["summary"]}
    for label in baselines:
        summaries[label] = sweep_view(result, ViewQuery(top=1, baseline=label), frames)["summary"]
    best = sweep_view(result, ViewQuery(top=1, metric="best"), frames)
    return {
        "meta": sweep_meta(result, store),
        "figures": {f"{x}|{band}": view["figure"] for (x, band), view in views.items()},
        "summaries": summaries,
        "slices": {"final": first["slices"], "best": best["slices"]},
    }


def _inline_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_report(result: SweepResult, store: Path) -> str:
    """The sweep page with its data, scripts and styles inline."""
    html = (STATIC / "sweep.html").read_text(encoding="utf-8")

    def stylesheet(match: re.Match[str]) -> str:
        css = (STATIC / match.group(1)).read_text(encoding="utf-8")
        return f"<style>\n{css}\n</style>"

    def script(match: re.Match[str]) -> str:
        code = (STATIC / match.group(1)).read_text(encoding="utf-8")
        code = code.replace("</script", "<\\/script")
        return f"<script>\n{code}\n</script>"

    html = re.sub(r'<link rel="stylesheet" href="/static/([^"]+)">', stylesheet, html)
    data = (
        '<script id="optiscope-data" type="application/json">'
        f"{_inline_json(report_data(result, store))}</script>\n"
        "<script>window.OPTISCOPE_REPORT = JSON.parse("
        "document.getElementById('optiscope-data').textContent);</script>\n"
    )
    html = html.replace('<script src="/static/', data + '<script src="/static/', 1)
    html = re.sub(r'<script src="/static/([^"]+)"></script>', script, html)
    html = html.replace(
        '<a href="/" class="brand">optiscope</a>', '<span class="brand">optiscope</span>'
    )
    html = html.replace('<details id="about">', '<details id="about" open>')
    html = html.replace(
        "<title>optiscope sweep</title>",
        f"<title>{_escape(result.name)} · optiscope report</title>",
    )
    assert "/static/" not in html, "the report still refers to a server file"
    return html


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_report(name: str, out: Path, *, store: Path) -> Path:
    """Write sweep ``name`` of ``store`` as one self-contained HTML file; returns ``out``."""
    result = SweepResult.load(name, store=store)
    html = build_report(result, store)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
