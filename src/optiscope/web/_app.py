"""The FastAPI application: one store, one token, the guard, and every router in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from optiscope._version import __version__
from optiscope.errors import OptiscopeError, StorageError, SweepNotFoundError
from optiscope.web import _events, _launches, _pages, _playground, _sweeps
from optiscope.web._launches import LaunchLimits
from optiscope.web._runner import JobRunner
from optiscope.web._security import DEFAULT_MAX_BODY, LOOPBACK_NAMES, Guard, GuardMiddleware

__all__ = ["ROUTERS", "STATIC", "WebState", "create_app"]

#: The package's static files (the page's JS/CSS and the vendored uPlot).
STATIC = Path(__file__).parent / "static"

#: Every router the server mounts, in order. A feature adds its router here (one place);
#: routers under ``/api`` carry ``Depends(require_token)``.
ROUTERS = (
    _sweeps.router,
    _events.router,
    _playground.router,
    _launches.router,
    _pages.router,
)


@dataclass(frozen=True)
class WebState:
    """What every route may read (``request.app.state.web``).

    Attributes:
        store_path: the results store, fixed when the server starts (no request names a path).
    """

    store_path: Path


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub: _events.Hub = app.state.hub
    runner: JobRunner = app.state.runner
    try:
        yield
    finally:
        runner.close()  # a running launch is stopped cleanly (its configs go back to pending)
        await hub.stop()


def create_app(
    store_path: str | Path,
    *,
    token: str,
    allowed_hosts: Iterable[str] = LOOPBACK_NAMES,
    max_body: int = DEFAULT_MAX_BODY,
    poll_seconds: float = _events.POLL_SECONDS,
    launch_limits: LaunchLimits = LaunchLimits(),  # noqa: B008 (frozen)
    keepalive_seconds: float = _events.KEEPALIVE_SECONDS,
) -> FastAPI:
    """The web lab's application for one store.

    Args:
        store_path: the results store (created if missing); requests never name another.
        token: the secret every ``/api`` request must carry (see :mod:`._security`).
        allowed_hosts: names the ``Host`` header may carry (DNS-rebinding guard).
        max_body: largest request body in bytes.
        poll_seconds: how often the one watcher of the store looks for new rows.
        launch_limits: the most configs and epochs a launch from the page may train.
        keepalive_seconds: how often an idle event stream sends a comment line.

    Returns:
        The application; serve it with uvicorn (``optiscope serve`` does).
    """
    path = Path(store_path).absolute()
    app = FastAPI(
        title="optiscope",
        version=__version__,
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.web = WebState(store_path=path)
    app.state.guard = Guard.build(token, allowed_hosts, max_body)
    app.state.hub = _events.Hub(path, poll_seconds=poll_seconds)
    app.state.runner = JobRunner(path)
    app.state.launch_limits = launch_limits
    app.state.keepalive_seconds = keepalive_seconds
    app.state.results = _sweeps.ResultCache()
    app.add_middleware(GuardMiddleware, guard=app.state.guard)
    _add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal is ``{"error": "..."}`` with a 4xx status and a sentence a user can act on."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        detail = err.detail if isinstance(err.detail, str) else str(err.detail)
        return JSONResponse({"error": detail}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = []
        for item in err.errors():
            if item.get("type") == "json_invalid":
                reason = item.get("ctx", {}).get("error", "")
                problems.append(
                    f"the body is not valid JSON ({reason})"
                    if reason
                    else "the body is not valid JSON"
                )
                continue
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        message = "the request was refused, nothing was started: " + "; ".join(problems)
        return JSONResponse({"error": message, "problems": problems}, status_code=422)

    @app.exception_handler(SweepNotFoundError)
    async def no_sweep(request: Request, err: SweepNotFoundError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=404)

    @app.exception_handler(StorageError)
    async def store_error(request: Request, err: StorageError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=503)

    @app.exception_handler(OptiscopeError)
    async def optiscope_error(request: Request, err: OptiscopeError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=400)
