"""Where the results store lives when nobody says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_STORE", "STORE_ENV", "default_store_path"]

#: Environment variable that names the store file (overridden by ``--store`` / ``store=``).
STORE_ENV = "OPTISCOPE_STORE"

#: The store used when neither ``--store`` nor ``$OPTISCOPE_STORE`` is given, relative to the
#: working directory (so each project folder keeps its own results, like ``.git``).
DEFAULT_STORE = Path(".optiscope") / "results.sqlite"


def default_store_path() -> Path:
    """The store file to use: ``$OPTISCOPE_STORE`` if set, else ``./.optiscope/results.sqlite``."""
    named = os.environ.get(STORE_ENV, "").strip()
    return Path(named).expanduser() if named else DEFAULT_STORE
