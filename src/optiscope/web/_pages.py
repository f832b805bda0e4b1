"""The HTML pages. They hold no data (the page's script reads ``/api`` with the token), so
they are served without one; the token arrives in the URL the server printed (``?token=``)
and the script keeps it in ``sessionStorage``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

__all__ = ["PAGES", "page_html", "router"]

PAGES = Path(__file__).parent / "static"

router = APIRouter()

_HEADERS = {
    "Cache-Control": "no-store",
    # The page loads only its own files; no frame may embed it (clickjacking).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def page_html(name: str) -> str:
    """A page's HTML from the package's static folder."""
    return (PAGES / name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The list of sweeps."""
    return HTMLResponse(page_html("index.html"), headers=_HEADERS)


@router.get("/sweeps/{name}", response_class=HTMLResponse)
def sweep_page(name: str) -> HTMLResponse:
    """One sweep's page (the script reads the name from the URL)."""
    return HTMLResponse(page_html("sweep.html"), headers=_HEADERS)


@router.get("/playground", response_class=HTMLResponse)
def playground_page() -> HTMLResponse:
    """The landscape playground and its training panel."""
    return HTMLResponse(page_html("playground.html"), headers=_HEADERS)


@router.get("/launch", response_class=HTMLResponse)
def launch_page() -> HTMLResponse:
    """The form that starts a sweep or a compare, with the jobs and their progress."""
    return HTMLResponse(page_html("launch.html"), headers=_HEADERS)
