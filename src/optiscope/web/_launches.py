"""``/api/launch``: start a sweep or a compare from the page, follow it, cancel it.

The form's fields come from the settings registry (:func:`~optiscope.web._launch.setting_fields`);
a launch is checked completely before it is queued (the same checks and messages as the
command line), then the server's :class:`~optiscope.web._runner.JobRunner` trains it into the
store, where the sweeps page shows its rows live. Starting and cancelling change state, so
they need the token in a header (``require_token``: every route here carries it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from optiscope.errors import SweepExistsError
from optiscope.sweeps import Plan, SweepSpec
from optiscope.web._launch import checked_plan, launch_plan, setting_fields
from optiscope.web._runner import MAX_QUEUED, Job, JobRunner
from optiscope.web._security import require_token
from optiscope.web._sweeps import store_path

__all__ = [
    "DEFAULT_MAX_CONFIGS",
    "DEFAULT_MAX_EPOCHS",
    "LaunchBody",
    "LaunchLimits",
    "job_json",
    "router",
    "submit",
]

#: ``optiscope serve``'s default bounds on what the page may start.
DEFAULT_MAX_CONFIGS = 256
DEFAULT_MAX_EPOCHS = 100

router = APIRouter(prefix="/api/launch", dependencies=[Depends(require_token)])

Scalar = bool | int | float | str
Value = Scalar | list[Scalar]


@dataclass(frozen=True)
class LaunchLimits:
    """The server's bounds on a launch (``--max-configs``, ``--max-epochs``)."""

    max_configs: int = DEFAULT_MAX_CONFIGS
    max_epochs: int = DEFAULT_MAX_EPOCHS


class LaunchBody(BaseModel):
    """A launch: what to start, each setting's values, the seeds and an optional name."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sweep", "compare"] = "sweep"
    settings: Annotated[
        dict[str, Annotated[list[Value], Field(min_length=1, max_length=64)]],
        Field(max_length=40),
    ] = {}
    seeds: (
        Annotated[int, Field(ge=1, le=100)]
        | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=100)]
        | None
    ) = None
    name: (
        Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][\w.=,-]*$")] | None
    ) = None


def runner(request: Request) -> JobRunner:
    """The server's runner (made with the app; one per server)."""
    found: JobRunner = request.app.state.runner
    return found


def limits(request: Request) -> LaunchLimits:
    found: LaunchLimits = request.app.state.launch_limits
    return found


def job_json(request: Request, job: Job) -> dict[str, Any]:
    """A job as the page shows it: state, size, progress counts from the store."""
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "configs": job.configs,
        "state": job.state,
        "message": job.message,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "progress": runner(request).progress(job),
    }


def submit(request: Request, spec: SweepSpec, *, kind: str) -> Job:
    """Check ``spec`` within the server's bounds and queue it (429 when the queue is full)."""
    bounds = limits(request)
    with _name_taken():
        checked = checked_plan(
            spec,
            store=store_path(request),
            max_configs=bounds.max_configs,
            max_epochs=bounds.max_epochs,
        )
    return _queue(request, checked, kind)


@contextlib.contextmanager
def _name_taken() -> Iterator[None]:
    """A name another sweep holds is a conflict (409), not a broken store."""
    try:
        yield
    except SweepExistsError as err:
        raise HTTPException(status_code=409, detail=str(err)) from None


def _queue(request: Request, checked: Plan, kind: str) -> Job:
    job = runner(request).submit(checked, kind=kind)
    if job is None:
        raise HTTPException(
            status_code=429,
            detail=(
                f"{MAX_QUEUED} launched sweeps are already waiting (this server queues at "
                "most that many); cancel one or wait for it to finish. Nothing was started."
            ),
        )
    return job


@router.get("/form")
def form(request: Request) -> dict[str, Any]:
    """The form's fields (from the settings registry) and the server's bounds."""
    bounds = limits(request)
    return {
        "fields": setting_fields(),
        "max_configs": bounds.max_configs,
        "max_epochs": bounds.max_epochs,
        "max_queued": MAX_QUEUED,
    }


@router.post("")
def launch(request: Request, body: LaunchBody) -> dict[str, Any]:
    """Check and queue a sweep or compare; answers the job (202-like: it runs in the back)."""
    bounds = limits(request)
    with _name_taken():
        checked = launch_plan(
            body.kind,
            body.settings,
            seeds=body.seeds,
            name=body.name,
            store=store_path(request),
            max_configs=bounds.max_configs,
            max_epochs=bounds.max_epochs,
        )
    return job_json(request, _queue(request, checked, body.kind))


@router.get("/jobs")
def jobs(request: Request) -> dict[str, Any]:
    """Every job this server ran or holds, newest first, with its progress."""
    found = sorted(runner(request).jobs(), key=lambda job: -job.id)
    return {"jobs": [job_json(request, job) for job in found]}


@router.get("/jobs/{job_id}")
def job(request: Request, job_id: int) -> dict[str, Any]:
    found = runner(request).get(job_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"there is no job {job_id} on this server")
    return job_json(request, found)


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: int) -> dict[str, Any]:
    """Cancel a queued job, or stop a running one (its unfinished configs go back to pending,
    resumable with ``optiscope resume NAME``)."""
    found = runner(request).cancel(job_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"there is no job {job_id} on this server")
    return job_json(request, found)
