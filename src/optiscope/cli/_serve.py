"""``optiscope serve``: the web lab on this machine (issue 11)."""

from __future__ import annotations

import socket
import sys
import webbrowser
from pathlib import Path

import click

from optiscope.cli._runs import STORE_OPTION, user_mistake

__all__ = ["COMMANDS", "serve_command"]

WEB_MISSING = (
    "the web lab needs the 'web' extra (fastapi, uvicorn); install it with "
    "`pip install 'optiscope[web]'` or run `bash scripts/bootstrap.sh`"
)


@click.command("serve")
@STORE_OPTION
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback lets other machines reach the server "
    "(it still needs the token); prefer an SSH tunnel.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option(
    "--max-configs",
    type=click.IntRange(1),
    default=None,
    help="The most configs (seeds included) a sweep started from the page may train "
    "[default: the web lab's, docs/web.md].",
)
@click.option(
    "--max-epochs",
    type=click.IntRange(1),
    default=None,
    help="The most epochs per run a sweep started from the page may train "
    "[default: the web lab's, docs/web.md].",
)
def serve_command(
    store: Path | None,
    host: str,
    port: int,
    open_browser: bool,
    max_configs: int | None,
    max_epochs: int | None,
) -> None:
    """Serve the web lab: live sweep pages for one results store.

    Prints the URL with its token (like Jupyter); the store is fixed for the server's life.
    """
    try:
        from optiscope.web import plan_server, run_server
    except ImportError as err:
        raise click.ClickException(f"{WEB_MISSING} ({err})") from err
    from optiscope.storage import SqliteStore, default_store_path

    path = store if store is not None else default_store_path()
    with user_mistake(), SqliteStore(path):  # create it now, and refuse a foreign file now
        pass
    _check_port(host, port)
    plan = plan_server(path, host, port)
    if not plan.loopback:
        click.echo(
            f"optiscope: warning: listening on {host}, not only this machine: anyone who can "
            "reach this port and learns the token can start training here. Prefer the default "
            "127.0.0.1 with an SSH tunnel (docs/web.md).",
            err=True,
        )

    def ready() -> None:
        click.echo(f"optiscope lab for {plan.store}")
        click.echo(f"    {plan.url}")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        if open_browser:
            webbrowser.open(plan.url)

    run_server(plan, on_ready=ready, max_configs=max_configs, max_epochs=max_epochs)


def _check_port(host: str, port: int) -> None:
    """Refuse a port another program holds now, in one line (uvicorn would exit with its
    own log line and code 3)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as err:
            raise click.UsageError(
                f"cannot listen on {host}:{port} ({err.strerror or err}); "
                "another server may use it: choose another with --port"
            ) from err


COMMANDS = (serve_command,)
