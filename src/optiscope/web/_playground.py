"""``/api/playground``: the landscape playground's paths, map, contour grid and training curves.

Every answer is the Python API's data serialised (:func:`optiscope.api.playground_paths`,
:func:`~optiscope.api.playground_map`, :func:`~optiscope.api.playground_surface`,
:func:`~optiscope.api.playground_curves`): the page draws what a notebook would get. Bodies are
pydantic models with bounds (optimizers, steps, map side, grid size); the library's own checks
refuse the rest with its messages. Training the playground's grid is state-changing: it goes
to the launch runner (:mod:`optiscope.web._launches`), under the server's bounds.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from optiscope.api import (
    MAP_BETA,
    MAX_MAP_SIDE,
    MAX_PLAYGROUND_OPTIMIZERS,
    MAX_PLAYGROUND_STEPS,
    MAX_SURFACE_SIDE,
    PLAYGROUND_DTYPE,
    PLAYGROUND_GRID,
    PLAYGROUND_SWEEP,
    ROSENBROCK_SETTINGS,
    SweepResult,
    playground_curves,
    playground_map,
    playground_paths,
    playground_spec,
    playground_surface,
)
from optiscope.engine import DECAYS, PATH_OPTIMIZERS
from optiscope.errors import StoreNotFoundError, SweepNotFoundError
from optiscope.landscapes import LANDSCAPES
from optiscope.storage import SqliteStore
from optiscope.web._launches import job_json, submit
from optiscope.web._security import require_token
from optiscope.web._sweeps import clean, store_path

__all__ = ["MapBody", "OptimizerBody", "PathsBody", "router"]

router = APIRouter(prefix="/api/playground", dependencies=[Depends(require_token)])

Number = Annotated[float, Field(allow_inf_nan=False)]
Setting = bool | Number | list[Number]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class OptimizerBody(BaseModel):
    """One optimizer: a registered name, its settings (torch's names, or beta1/beta2), and
    the extra weight decay the playground adds to it."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=40)]
    settings: Annotated[dict[str, Setting], Field(max_length=12)] = {}
    weight_decay: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.0

    def spec(self) -> tuple[str, dict[str, Any]]:
        """``(name, settings)`` as :func:`optiscope.race` takes it."""
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in self.settings.items()}
        return self.name, settings


class PathsBody(BaseModel):
    """A paths request: the function, 1 to 6 optimizers, the start, the steps, the decay."""

    model_config = ConfigDict(extra="forbid")

    function: Name = "rosenbrock"
    optimizers: Annotated[
        list[OptimizerBody], Field(min_length=1, max_length=MAX_PLAYGROUND_OPTIMIZERS)
    ]
    start: tuple[Number, Number] | None = None
    steps: Annotated[int, Field(ge=1, le=MAX_PLAYGROUND_STEPS)] = 300
    decay: Literal["decoupled", "l2"] = "decoupled"


class MapBody(BaseModel):
    """A sensitivity-map request: one optimizer's (lr, beta) grid."""

    model_config = ConfigDict(extra="forbid")

    function: Name = "rosenbrock"
    optimizer: OptimizerBody
    start: tuple[Number, Number] | None = None
    steps: Annotated[int, Field(ge=1, le=MAX_PLAYGROUND_STEPS)] = 300
    decay: Literal["decoupled", "l2"] = "decoupled"
    side: Annotated[int, Field(ge=2, le=MAX_MAP_SIDE)] = 16
    lr: tuple[Annotated[float, Field(gt=0, le=100)], Annotated[float, Field(gt=0, le=100)]] = (
        1e-4,
        1.0,
    )
    beta: tuple[Number, Number] | None = None


def _default_lr(name: str) -> float:
    """A learning rate that reaches Rosenbrock's minimum (the race's documented settings)."""
    text = str(ROSENBROCK_SETTINGS.get(name, {}).get("optimizer", ""))
    for piece in text.split():
        if piece.startswith("lr="):
            return float(piece[3:])
    return float(PATH_OPTIMIZERS[name].defaults.get("lr", 0.01))


@router.get("/options")
def options() -> dict[str, Any]:
    """What the page offers: the functions, the registered optimizers with their defaults and
    map axis, the limits, and the training grid."""
    optimizers = {}
    for name, info in PATH_OPTIMIZERS.items():
        beta, low, high = MAP_BETA.get(name, ("", 0.0, 1.0))
        defaults = dict(info.defaults)
        if "weight_decay" in defaults:
            defaults["weight_decay"] = 0.0  # the playground adds decay itself (one slider)
        defaults["lr"] = _default_lr(name)
        optimizers[name] = {
            "title": info.title,
            "defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()},
            "beta": beta,
            "beta_range": [low, high],
        }
    return {
        "functions": [landscape.describe() for landscape in LANDSCAPES.values()],
        "domains": {n: [list(d) for d in lsc.domain] for n, lsc in LANDSCAPES.items()},
        "starts": {n: list(lsc.start) for n, lsc in LANDSCAPES.items()},
        "optimizers": optimizers,
        "decays": list(DECAYS),
        "dtype": PLAYGROUND_DTYPE,
        "limits": {
            "optimizers": MAX_PLAYGROUND_OPTIMIZERS,
            "steps": MAX_PLAYGROUND_STEPS,
            "map_side": MAX_MAP_SIDE,
            "surface": MAX_SURFACE_SIDE,
        },
        "training": {
            "sweep": PLAYGROUND_SWEEP,
            "grid": {k: list(v) for k, v in PLAYGROUND_GRID.items()},
        },
    }


@router.get("/surface")
def surface(
    function: Annotated[str, Query(min_length=1, max_length=200)] = "rosenbrock",
    n: Annotated[int, Query(ge=8, le=MAX_SURFACE_SIDE)] = 160,
) -> dict[str, Any]:
    """The function on an ``n`` x ``n`` grid with contour levels."""
    return clean(playground_surface(function, n=n))  # type: ignore[no-any-return]


@router.post("/paths")
def paths(body: PathsBody) -> Response:
    """Each optimizer's path (equal to ``optiscope.race``'s) and its decay's rest point.

    The JSON text comes straight from :meth:`~optiscope.api.PlaygroundPaths.to_json_text`
    (each cached path's points encoded once), not through FastAPI's encoder, which walks
    every one of the 9,000 floats of six 500-step paths on each slider move.
    """
    result = playground_paths(
        body.function,
        [o.spec() for o in body.optimizers],
        start=body.start,
        steps=body.steps,
        weight_decay=[o.weight_decay for o in body.optimizers],
        decay=body.decay,
    )
    return Response(result.to_json_text(), media_type="application/json")


@router.post("/map")
def sensitivity(body: MapBody) -> dict[str, Any]:
    """One optimizer's final distance to the minimum over an (lr, beta) grid."""
    result = playground_map(
        body.function,
        body.optimizer.spec(),
        lr=body.lr,
        beta=body.beta,
        side=body.side,
        start=body.start,
        steps=body.steps,
        weight_decay=body.optimizer.weight_decay,
        decay=body.decay,
    )
    return clean(  # type: ignore[no-any-return]
        {
            "x_name": result.x_name,
            "y_name": result.y_name,
            "x_values": list(result.x_values),
            "y_values": list(result.y_values),
            "final_distance": result.final_distance.tolist(),
            "diverged": result.diverged.tolist(),
            "reached_step": result.reached_step.tolist(),
            "steps": body.steps,
            "seconds": result.seconds if math.isfinite(result.seconds) else None,
        }
    )


@router.get("/training")
def training(request: Request) -> dict[str, Any]:
    """The playground sweep's curves (seed means and sds per config), loaded once by the page."""
    path = store_path(request)
    try:
        with SqliteStore(path, create=False) as store:
            result = SweepResult.load(PLAYGROUND_SWEEP, store=store)
    except (SweepNotFoundError, StoreNotFoundError):
        # not an error of the request: the page offers to train it (a 404 would be logged)
        return {
            "available": False,
            "message": (
                f"this store has no '{PLAYGROUND_SWEEP}' sweep yet; press 'Train the grid' "
                f"to train it once ({playground_spec().size} runs; the server must allow as "
                "many with --max-configs)"
            ),
        }
    return {"available": True, **clean(playground_curves(result))}


@router.post("/training")
def train(request: Request) -> dict[str, Any]:
    """Queue the playground sweep on the launch runner (finished configs are skipped)."""
    job = submit(request, playground_spec(), kind="playground")
    return job_json(request, job)
