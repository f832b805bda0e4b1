"""Running the app under uvicorn: the URL with its token, the hosts it answers to."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optiscope.web._security import LOOPBACK_NAMES, is_loopback, new_token

__all__ = ["TOKEN_ENV", "ServerPlan", "allowed_hosts_for", "plan_server", "run_server"]

#: A token to use instead of a random one (tests and scripts that start the server and must
#: know it, as ``JUPYTER_TOKEN`` does for Jupyter).
TOKEN_ENV = "OPTISCOPE_TOKEN"


def allowed_hosts_for(host: str) -> tuple[str, ...]:
    """Host names the ``Host`` header may carry for a server bound to ``host``.

    Loopback names always; for another address, that address and this machine's names (a
    wildcard bind such as ``0.0.0.0`` is reached by the machine's name or address).
    """
    names = list(LOOPBACK_NAMES)
    if not is_loopback(host):
        if host not in ("0.0.0.0", "::", ""):
            names.append(host)
        names += [socket.gethostname(), socket.getfqdn()]
    return tuple(dict.fromkeys(n.lower() for n in names if n))


@dataclass(frozen=True)
class ServerPlan:
    """What ``optiscope serve`` will run: where, with which token, and the URL to open."""

    store: Path
    host: str
    port: int
    token: str
    allowed_hosts: tuple[str, ...]

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.port}/?token={self.token}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def plan_server(store: Path, host: str, port: int, token: str | None = None) -> ServerPlan:
    """Decide the token (``token``, else ``$OPTISCOPE_TOKEN``, else a random one)."""
    chosen = token or os.environ.get(TOKEN_ENV) or new_token()
    return ServerPlan(store.absolute(), host, port, chosen, allowed_hosts_for(host))


def run_server(
    plan: ServerPlan,
    *,
    on_ready: Callable[[], None] | None = None,
    max_configs: int | None = None,
    max_epochs: int | None = None,
) -> None:
    """Serve until interrupted (uvicorn handles Ctrl-C and SIGTERM).

    Args:
        plan: where and with which token.
        on_ready: called once the server listens.
        max_configs, max_epochs: the most a launch from the page may train (``None``: the
            defaults of :class:`~optiscope.web._launches.LaunchLimits`).
    """
    import uvicorn

    from optiscope.web._app import create_app
    from optiscope.web._launches import LaunchLimits

    bounds = LaunchLimits()
    limits = LaunchLimits(
        max_configs=bounds.max_configs if max_configs is None else max_configs,
        max_epochs=bounds.max_epochs if max_epochs is None else max_epochs,
    )
    app = create_app(
        plan.store, token=plan.token, allowed_hosts=plan.allowed_hosts, launch_limits=limits
    )
    config = uvicorn.Config(
        app, host=plan.host, port=plan.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    if on_ready is not None:

        def wait_then_call() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                on_ready()

        threading.Thread(target=wait_then_call, name="optiscope-on-ready", daemon=True).start()
    server.run()
