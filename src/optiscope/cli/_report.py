"""``optiscope report NAME --out sweep.html``: a sweep's page as one file (issue 11, point 6)."""

from __future__ import annotations

from pathlib import Path

import click

from optiscope.cli._options import out_option
from optiscope.cli._runs import STORE_OPTION, user_mistake

__all__ = ["COMMANDS", "report_command"]


@click.command("report")
@click.argument("name")
@STORE_OPTION
@out_option("NAME.html", what="The HTML file to write")
def report_command(name: str, store: Path | None, out: Path | None) -> None:
    """Write a sweep's page as one self-contained HTML file.

    Curves, table and slices stay interactive; data, scripts and styles are inline, so the
    file opens anywhere with no server and no network. It shows the spec, the versions and
    the command that trains the sweep again.
    """
    try:
        from optiscope.web import write_report
    except ImportError as err:
        from optiscope.cli._serve import WEB_MISSING

        raise click.ClickException(f"{WEB_MISSING} ({err})") from err
    from optiscope.storage import default_store_path

    path = store if store is not None else default_store_path()
    target = out if out is not None else Path(f"{name}.html")
    if target.suffix.lower() not in (".html", ".htm"):
        raise click.UsageError(f"--out {target}: a report is HTML; name the file *.html")
    with user_mistake():
        written = write_report(name, target, store=path)
    size = written.stat().st_size
    click.echo(f"wrote {written} ({size / 1024:.0f} KiB, self-contained)")


COMMANDS = (report_command,)
