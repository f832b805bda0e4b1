"""``/api/sweeps``: the list of sweeps and one sweep's figures and table, as JSON.

Every number comes from the same functions the matplotlib figures and the CLI use
(``SweepResult.plot_data`` -> ``build_bands``, ``SweepResult.summary``), so the page and a
saved figure never disagree. JSON has no NaN: it is sent as ``null``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request

from optiscope.storage import SqliteStore
from optiscope.web._security import require_token

__all__ = ["router", "store_path"]

router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


def store_path(request: Request) -> Path:
    """The store the server was started on (requests never name a path)."""
    path: Path = request.app.state.web.store_path
    return path


def clean(value: Any) -> Any:
    """JSON-ready: NaN and inf become ``None`` at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


@router.get("/sweeps")
def list_sweeps(request: Request) -> dict[str, Any]:
    """Every sweep in the store: name, size, status counts, created and updated times."""
    with SqliteStore(store_path(request), create=False) as store:
        infos = store.sweeps()
    return {
        "store": str(store_path(request)),
        "sweeps": [
            {
                "name": info.name,
                "size": info.total,
                "finished": info.finished,
                "counts": dict(info.counts),
                "created": info.created,
                "updated": info.updated,
                "version": info.version,
            }
            for info in infos
        ],
    }
