"""``/api/sweeps``: the list of sweeps and one sweep's figures and table, as JSON.

Every number comes from the same functions the matplotlib figures and the CLI use
(``SweepResult.plot_data`` -> ``build_bands``, ``SweepResult.summary``), so the page and a
saved figure never disagree. JSON has no NaN: it is sent as ``null``.
"""

from __future__ import annotations

import json
import math
import shlex
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from optiscope._version import __version__
from optiscope.api import SweepResult
from optiscope.plotting import build_slices, log_spaced, thin_bands
from optiscope.storage import SqliteStore
from optiscope.sweeps import MAX_CONFIGS
from optiscope.web._events import live_runs
from optiscope.web._security import require_token

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["router", "store_path"]

router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


def store_path(request: Request) -> Path:
    """The store the server was started on (requests never name a path)."""
    path: Path = request.app.state.web.store_path
    return path


def json_response(data: Any) -> Response:
    """JSON without FastAPI's per-value encoder walk (seconds for a 4,096-config view); the
    data is plain already, and ``allow_nan=False`` proves it has no NaN."""
    return Response(
        json.dumps(data, allow_nan=False, separators=(",", ":")), media_type="application/json"
    )


def clean_dict(value: dict[str, Any]) -> dict[str, Any]:
    """:func:`clean` for a JSON object."""
    return {k: clean(v) for k, v in value.items()}


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


XAxis = Literal["epoch", "step", "samples", "seconds"]
Band = Literal["std", "ci"]
Metric = Literal["final", "best"]

#: Configs drawn on first paint when the page asks for no other number: a 4,096-config sweep
#: sends its summary whole but the curves of its best configs only.
DEFAULT_TOP = 50
#: Most points per line sent to the browser (exact values, evenly spread; never averaged).
DEFAULT_MAX_POINTS = 400


class ViewQuery(BaseModel):
    """What the sweep page asks to see (every field bounded)."""

    model_config = ConfigDict(extra="forbid")

    x: XAxis = "epoch"
    band: Band = "std"
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    metric: Metric = "final"
    top: int = Field(default=DEFAULT_TOP, ge=1, le=MAX_CONFIGS)
    hide_diverged: bool = False
    baseline: str | None = Field(default=None, max_length=2000)
    max_points: int = Field(default=DEFAULT_MAX_POINTS, ge=2, le=10_000)
    seeds: bool = False


class ResultCache:
    """The last few sweeps read, kept while the store says they have not changed.

    A sweep's finished runs change only with its status counts or its ``updated`` time, so
    those are the key; a 4,096-config sweep is then read (and summarised) once per change,
    not once per request.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Any, SweepResult, dict[Any, Any]]] = {}
        self.reads = 0  # how many times a sweep was read from the store

    def get(self, store: Path, name: str) -> tuple[SweepResult, dict[Any, Any]]:
        with SqliteStore(store, create=False) as target:
            info = target.sweep_info(name)
        stamp = (info.updated, tuple(sorted(info.counts.items())))
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry[0] == stamp:
                return entry[1], entry[2]
        result = SweepResult.load(name, store=store)
        self.reads += 1
        summaries: dict[Any, Any] = {}
        with self._lock:
            self._entries.pop(name, None)
            while len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[name] = (stamp, result, summaries)
        return result, summaries


def load_result(request: Request, name: str) -> tuple[SweepResult, dict[Any, Any]]:
    """The stored sweep and what was computed from it (summaries by ``(baseline,
    confidence)``, encoded views); 404 with the known names when absent."""
    cache: ResultCache = request.app.state.results
    return cache.get(store_path(request), name)


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON objects; NaN and inf become ``None``."""
    return [
        {
            str(k): None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()
        }
        for row in frame.to_dict(orient="records")
    ]


def sweep_meta(result: SweepResult, store: Path) -> dict[str, Any]:
    """Name, spec, counts, swept settings (and which are log-spaced), versions and the
    command that reproduces the sweep."""
    with SqliteStore(store, create=False) as target:
        info = target.sweep_info(result.name)
        partial = target.checkpoint_epochs(result.name)
    by_key = {run.key: run.position for run in result.runs}
    settings = result.settings
    index = {label: i for i, label in enumerate(result.labels)}
    values = {
        key: [run.labels.get("settings", {}).get(key) for run in result.runs] for key in settings
    }
    return clean_dict(
        {
            "name": result.name,
            "store": str(store),
            "spec": result.spec.to_dict(),
            "counts": result.counts,
            "complete": result.complete,
            "size": len(result.runs),
            "settings": settings,
            "log_settings": {key: log_spaced(values[key]) for key in settings},
            "labels": result.labels,
            # by position: [index into labels, seed] (compact for 4,096-config sweeps)
            "runs": [
                [
                    index[str(run.labels.get("label", "config"))],
                    run.labels.get("seed", run.config.seed),
                ]
                for run in result.runs
            ],
            "created": info.created,
            "updated": info.updated,
            "version": info.version,
            "versions": versions(),
            "command": reproduce_command(result.name),
            "partial": {str(by_key[k]): e for k, e in partial.items() if k in by_key},
        }
    )


def versions() -> dict[str, str]:
    """The versions that produced the numbers on the page."""
    import platform

    import numpy
    import torch

    return {
        "optiscope": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def reproduce_command(name: str) -> str:
    """The command that trains this sweep again from its spec saved as ``NAME.json`` (the
    page's spec link; a stored spec is a valid ``--config`` file)."""
    return f"optiscope sweep --config {shlex.quote(safe_filename(name) + '.json')}"


def sweep_view(
    result: SweepResult,
    query: ViewQuery,
    summaries: dict[Any, Any] | None = None,
) -> dict[str, Any]:
    """The sweep page's figures and table for one set of controls.

    Args:
        result: the sweep.
        query: the page's controls.
        summaries: ``summary()`` frames already computed, by ``(baseline, confidence)``;
            filled in here.
    """
    summaries = {} if summaries is None else summaries
    key = (query.baseline, query.confidence)
    if key not in summaries:
        summaries[key] = result.summary(query.baseline, confidence=query.confidence)
    summary = summaries[key]
    shown = result.ranked_labels(
        query.metric, top=query.top, hide_diverged=query.hide_diverged, summary=summary
    )
    (panel,) = result.plot_data(
        query.x,
        band=query.band,
        confidence=query.confidence,
        seeds=query.seeds,
        facet=None,
        labels=shown,
    )
    records = [{str(k): v for k, v in row.items()} for row in summary.to_dict(orient="records")]
    slices = build_slices(records, result.settings, metric=query.metric)
    return {
        "figure": thin_bands(panel, query.max_points).to_dict(),
        "summary": {"columns": [str(c) for c in summary.columns], "rows": json_rows(summary)},
        "slices": [s.to_dict() for s in slices],
        "shown": shown,
        "total": len(result.labels),
        "query": query.model_dump(),
    }


@router.get("/sweeps/{name}")
def get_sweep(request: Request, name: str) -> Response:
    """A sweep's facts: spec, counts, settings, versions, the reproducing command."""
    return json_response(sweep_meta(load_result(request, name)[0], store_path(request)))


@router.get("/sweeps/{name}/view")
def get_view(request: Request, name: str, query: Annotated[ViewQuery, Query()]) -> Response:
    """Curves (seed bands of the top configs), the ranked summary with paired differences to
    ``baseline``, and the slices of final (or best) loss per setting (the encoded answer is
    kept with the sweep until it changes: a page reload or another tab costs nothing)."""
    result, cached = load_result(request, name)
    key = ("view", query.model_dump_json())
    if key not in cached:
        cached[key] = json_response(sweep_view(result, query, cached))
    answer: Response = cached[key]
    return answer


@router.get("/sweeps/{name}/spec.json")
def get_spec(request: Request, name: str) -> Response:
    """The sweep's spec as a file: ``optiscope sweep --config NAME.json`` trains it again."""
    with SqliteStore(store_path(request), create=False) as store:
        spec = store.sweep_info(name).spec
    filename = f"{safe_filename(name)}.json"
    return Response(
        json.dumps(spec, indent=2, allow_nan=False) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/sweeps/{name}/live")
def get_live(request: Request, name: str) -> dict[str, Any]:
    """The curves so far of the runs that are training now (from their checkpoints)."""
    with SqliteStore(store_path(request), create=False) as store:
        store.sweep_info(name)
        runs = store.activity().get(name, {})
        running = {p: run for p, run in runs.items() if run[1] == "running" and run[2]}
        return {"sweep": name, "runs": live_runs(store, running)}


EXPORTS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "png": "image/png"}


@router.get("/sweeps/{name}/export.{suffix}")
def export(
    request: Request,
    name: str,
    suffix: Literal["csv", "parquet", "png"],
    x: XAxis = "epoch",
    band: Band = "std",
    log_y: bool = False,
    log_x: bool = False,
) -> Response:
    """The tidy frame as CSV or Parquet, or the figure as PNG (``SweepResult.export`` and
    ``SweepResult.save``: the files the CLI writes)."""
    result, _ = load_result(request, name)
    with tempfile.TemporaryDirectory(prefix="optiscope-export-") as folder:
        path = Path(folder) / f"{name}.{suffix}"
        if suffix == "png":
            result.save(path, x=x, band=band, log_y=log_y, log_x=log_x)
        else:
            result.export(path)
        data = path.read_bytes()
    filename = f"{safe_filename(name)}.{suffix}"
    return Response(
        data,
        media_type=EXPORTS[suffix],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def safe_filename(name: str) -> str:
    """A sweep name as a download's file name (letters, digits, ``-_.`` only)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "sweep"
