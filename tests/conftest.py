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


def _replay_library() -> str:
    """The replay library (engine/_replay.py), built now if missing, as the setup script
    does: named to every test process, so none starts a background build; "off" where it
    cannot be built (tests/test_replay.py then fails on the build, saying why)."""
    from optiscope.engine import _replay

    try:
        return str(_replay.build())
    except Exception:  # (no compiler, a failed or hung build, no home folder)
        return "off"


os.environ["OPTISCOPE_REPLAY"] = _replay_library()


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Result figures are pyplot figures (so ``plt.show()`` shows them); close those a test
    drew, or the session passes pyplot's 20-open-figures warning, an error here."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")
