"""The web lab: ``optiscope serve``'s FastAPI app, its guard and live updates (layer 6).

Nothing imports this package but the CLI (``cli/_serve.py``) and the tests.
"""

from optiscope.web._app import ROUTERS, STATIC, WebState, create_app
from optiscope.web._report import build_report, write_report
from optiscope.web._security import (
    DEFAULT_MAX_BODY,
    LOOPBACK_NAMES,
    TOKEN_HEADER,
    Guard,
    is_loopback,
    new_token,
    require_token,
)
from optiscope.web._server import TOKEN_ENV, ServerPlan, allowed_hosts_for, plan_server, run_server

__all__ = [
    "DEFAULT_MAX_BODY",
    "LOOPBACK_NAMES",
    "ROUTERS",
    "STATIC",
    "TOKEN_ENV",
    "TOKEN_HEADER",
    "Guard",
    "ServerPlan",
    "WebState",
    "allowed_hosts_for",
    "build_report",
    "create_app",
    "is_loopback",
    "new_token",
    "plan_server",
    "require_token",
    "run_server",
    "write_report",
]
