"""Shared test settings: a headless matplotlib backend, and no figure left open between tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Every test process (and what it starts) asks the machine its exactness questions itself
# instead of reading earlier answers from ~/.cache: the questions are under test too
# (tests/test_facts.py turns the answers on where it tests keeping them).
os.environ["OPTISCOPE_PROBE_CACHE"] = "off"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Result figures are pyplot figures (so ``plt.show()`` shows them); close those a test
    drew, or the session passes pyplot's 20-open-figures warning, an error here."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")
