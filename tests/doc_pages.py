"""Reading the fenced examples of the Markdown pages, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^ {0,3}```(\w*)[^\n]*\n(.*?)^ {0,3}```", re.S | re.M)  # lang, body
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    """Every Markdown page users read: the README and docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fenced(page: Path) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block, in page order (``""`` when untagged; the
    language is the first word of the info string, as in ```` ```python title ````)."""
    return [(lang, body) for lang, body in FENCE.findall(page.read_text())]


def blocks(page: Path, languages: tuple[str, ...]) -> list[str]:
    """The bodies of the blocks in these languages, in page order."""
    return [body for lang, body in fenced(page) if lang in languages]


def images(page: Path) -> list[Path]:
    """The local images the page shows."""
    return [page.parent / target for target in IMAGE.findall(page.read_text())]
