"""Shared test settings: a headless matplotlib backend and one intra-op thread (CI has 2 cores)."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
