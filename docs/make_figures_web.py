"""Regenerate the screenshots of docs/web.md (and the README's) in Debian's Chromium.

Run from the repository root:  .venv/bin/python docs/make_figures_web.py

It trains the sweep docs/web.md starts with into a temporary store, serves it with a real
``optiscope serve`` and takes the screenshots with the browser tests' own fixtures
(tests/web_server.py), so the pictures show what the tests check.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from optiscope import sweep

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
sys.path.insert(0, str(ROOT / "tests"))

from web_server import CHROMIUM, CHROMIUM_ARGS, chromium_missing, serve  # noqa: E402


def main() -> None:
    reason = chromium_missing()
    if reason is not None:
        sys.exit(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "results.sqlite"
        sweep(
            lr=[0.1, 0.01, 0.001],
            weight_decay=[0, 0.01],
            seeds=3,
            epochs=10,
            name="lr-wd",
            store=store,
            progress=True,
        )
        with serve(store) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
            )
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            page.goto(server.url("/sweeps/lr-wd"))
            page.wait_for_selector("body[data-ready='true']")
            page.select_option("#baseline", "lr = 0.01, weight_decay = 0")
            page.hover("#summary tbody tr >> nth=1")
            page.wait_for_timeout(300)
            page.screenshot(path=str(IMAGES / "web-sweep.png"))
            browser.close()
    print(f"wrote {IMAGES / 'web-sweep.png'}")


if __name__ == "__main__":
    main()
