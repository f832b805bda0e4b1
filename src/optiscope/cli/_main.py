"""Entry point of the ``optiscope`` command.

Commands live in one module per user task and import torch only inside their functions, so
``optiscope --help`` answers without loading it. A user mistake exits with code 2 and one line
on stderr; nothing prints a traceback for bad input.
"""

from __future__ import annotations

import itertools
import sys

import click

from optiscope._version import __version__
from optiscope.cli import _compare, _landscapes, _report, _serve, _sweeps, _tuning
from optiscope.errors import ConfigError, DataError, OptiscopeError

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="optiscope")
def cli() -> None:
    """optiscope: an optimizer lab for PyTorch.

    Compare optimizer settings on small regression problems, race optimizers on 2-D
    test functions, and see what the settings do.
    """


for _module in (_compare, _landscapes, _sweeps, _tuning, _serve, _report):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit (used by commands for user mistakes)."""
    click.echo(f"optiscope: error: {message}", err=True)
    sys.exit(code)


def _comma_hint(err: click.UsageError, argv: list[str] | None) -> str:
    """For ``--lr 0.1 0.2``: click sees an extra argument ``0.2``; say that several values of
    one flag are written with commas."""
    args = sys.argv[1:] if argv is None else argv
    message = err.format_message()
    if "unexpected extra argument" not in message:
        return ""
    extra = message.split("(", 1)[-1].rstrip(")").split()
    if not extra or extra[0] not in args:
        return ""
    flag_at = args.index(extra[0]) - 1  # back over the values given after one flag
    while flag_at >= 0 and not args[flag_at].startswith("-"):
        flag_at -= 1
    run = list(itertools.takewhile(lambda a: not a.startswith("-"), args[flag_at + 1 :]))
    if flag_at < 0 or len(run) < 2:
        return ""
    return f"; separate several values with commas: {args[flag_at]} {','.join(run)}"


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user mistakes exit 2 with one line, never a traceback."""
    try:
        cli.main(args=argv, prog_name="optiscope", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else str(err))
        sys.exit(EXIT_USAGE)
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        fail(f"{err.format_message()}{_comma_hint(err, argv)}{hint}")
    except click.ClickException as err:
        fail(err.format_message(), err.exit_code or 1)
    except (ConfigError, DataError) as err:
        fail(str(err))
    except OptiscopeError as err:
        from optiscope.cli._advice import advice

        what = advice(err)
        fail(f"{str(err).rstrip('.')}; {what}." if what else str(err), 1)
    except OSError as err:  # a file that could not be written after all (disk full, ...)
        # (a reader of stdout that went away, `optiscope ... | head`, is click's: exit 1)
        where = f" ({err.filename})" if err.filename else ""
        fail(f"{err.strerror or err}{where}", 1)
    except click.Abort:
        fail("aborted", 130)
    except KeyboardInterrupt:
        fail("interrupted", 130)
