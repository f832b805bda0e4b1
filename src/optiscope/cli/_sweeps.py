"""``optiscope sweep`` and ``optiscope resume``: durable multi-seed sweeps from the terminal.

The ``runs`` and ``doctor`` commands (reading the store) live in ``_runs.py``; this module's
``COMMANDS`` registers them all.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from optiscope.cli._options import (
    CONFIRM_CONFIGS,
    FIGURE_SUFFIXES,
    check_output,
    confirm_size,
    format_seconds,
)
from optiscope.cli._runs import (
    FIGURE_OPTIONS,
    STORE_OPTION,
    doctor_command,
    figure_options,
    print_summary,
    runs_group,
    user_mistake,
)
from optiscope.cli._settings import parse_seeds, parse_setting, setting_options
from optiscope.settings import SETTINGS

if TYPE_CHECKING:
    from optiscope.sweeps import SweepRun


YES_HELP = f"Do not ask before sweeps of >{CONFIRM_CONFIGS} configs or hours of training."


def backend_options(command: Any) -> Any:
    """``--backend`` and ``--address`` (checked by :func:`optiscope.sweeps.make_backend`)."""
    command = click.option(
        "--address",
        default=None,
        help="Ray cluster to join: auto or HOST:PORT  [default: $RAY_ADDRESS, else a Ray "
        "started here]",
    )(command)
    return click.option(
        "--backend",
        default=None,
        help="Where to train: local (this machine's processes) or ray (needs the ray extra) "
        " [default: local]",
    )(command)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a sweep like Ctrl-C: unfinished configs are given back cleanly."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (tests calling main() from a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_and_report(
    spec: Any,
    *,
    store: Path | None,
    engine: str | None,
    workers: int | None,
    yes: bool,
    quiet: bool,
    dry_run: bool,
    force: bool,
    out: Path | None,
    extend: bool = False,
    as_json: bool,
    baseline: str | None,
    figure: dict[str, Any],
    backend: str | None = None,
    address: str | None = None,
) -> None:
    """Check the spec, show its size, confirm, run it, then print the table and save the figure."""
    from optiscope.api import SweepResult
    from optiscope.cli._advice import resume_hint
    from optiscope.cli._runs import parse_baseline, save_sweep_figure
    from optiscope.errors import SweepNotFoundError, TooManyConfigsError
    from optiscope.storage import FINISHED, SqliteStore, default_store_path
    from optiscope.sweeps import MAX_CONFIGS, check_engine, make_backend, plan, run_sweep

    try:  # counted from the spec's sizes first: a huge grid is refused before it is expanded
        checked = plan(spec, max_configs=None if yes else MAX_CONFIGS)
    except TooManyConfigsError as err:
        raise click.UsageError(
            f"this sweep has {err.size:,} configs, more than {err.cap:,}; add --yes if you "
            "mean it (expanding and storing them takes time and memory of its own)"
        ) from None
    if engine is not None:
        check_engine(engine)
    chosen = make_backend(backend, address=address)  # a missing extra is said before any work
    name, points = checked.name, checked.points
    reference = parse_baseline(baseline)
    SweepResult.planned(checked.spec, list(points)).check_view(reference, figure["facet"])
    if not dry_run:
        out = out or Path(f"sweep-{name}.png")
        check_output(out, FIGURE_SUFFIXES, "--out")
    path = store if store is not None else default_store_path()
    statuses: dict[str, str] = {}
    if path.exists():  # reading and checking never create a store (--dry-run, "no")
        with user_mistake(), SqliteStore(path, create=False) as existing:
            existing.check_sweep(name, checked.spec.to_dict(), checked.keys, extend=extend)
            statuses = dict(existing.statuses(checked.keys))
    todo = [key for key in checked.keys if statuses.get(key) not in FINISHED]
    seconds = checked.estimate_seconds(set(todo))
    estimate = format_seconds(seconds)
    click.echo(
        f"sweep {name}: {checked.describe()}; {len(points) - len(todo)} already in "
        f"{path}, {len(todo)} to train (about {estimate} on one core)",
        err=True,
    )
    if dry_run:
        for point in points:
            state = statuses.get(point.config.key(), "new")
            click.echo(f"{point.number:>5}  {point.label}, seed {point.seed}  [{state}]")
        return
    confirm_size(checked, yes, todo=todo, seconds=seconds)
    with user_mistake(), SqliteStore(path) as target:
        try:
            with _sigterm_as_interrupt():
                run = run_sweep(
                    checked,
                    store=target,
                    engine=engine,
                    workers=workers,
                    progress=not quiet,
                    force=force,
                    extend=extend,
                    backend=chosen,
                )
        except KeyboardInterrupt:
            finished, partial = 0, 0
            with contextlib.suppress(SweepNotFoundError):  # interrupted before it was stored
                finished = target.sweep_info(name).finished
                partial = len(target.checkpoint_epochs(name))
            kept = f" and {partial} partly trained ones" if partial else ""
            click.echo(
                f"optiscope: interrupted: {finished} of {len(points)} configs of {name}{kept} "
                f"are stored in {target.path}; continue with {resume_hint(name, target.path)}",
                err=True,
            )
            sys.exit(130)
        result = SweepResult.load(name, store=target, run=run)
    notes = [f"trained {run.trained}", f"skipped {run.skipped} already stored"]
    if run.recovered:
        notes.append(f"recovered {run.recovered} interrupted")
    if run.busy:
        notes.append(f"{run.busy} being trained by another process")
    if not result.records:  # all of it is another runner's: nothing to show yet
        click.echo(f"{name}: {', '.join(notes)} in {run.seconds:.1f} s", err=True)
        click.echo(_busy_advice(run, target.path), err=True)
        return
    written = save_sweep_figure(result, out, figure)
    confidence = figure["confidence"]
    if as_json:
        click.echo(json.dumps(result.to_json_dict(reference, confidence=confidence), indent=2))
    else:
        print_summary(result, reference, confidence)
    click.echo(f"wrote {written}", err=True)
    click.echo(f"{name}: {', '.join(notes)} in {run.seconds:.1f} s", err=True)
    if run.busy:
        click.echo(_busy_advice(run, target.path), err=True)


def _busy_advice(run: SweepRun, path: Path) -> str:
    """What to do about configs another runner holds (the figure and table leave them out)."""
    from optiscope.cli._advice import resume_hint, store_flag

    text = (
        f"{run.busy} configs of {run.name} are held by another runner and are not in the "
        f"table or figure yet; `optiscope runs plot {run.name}{store_flag(path)}` draws them "
        "once it is done"
    )
    if run.elsewhere:
        text += (
            f"; {run.elsewhere} of them are marked running by another host: if no sweep runs "
            f"there any more, {resume_hint(run.name, path, force=True)} takes them over"
        )
    return text


SWEEP_HELP = """Train a grid of settings over several seeds; results persist and resume.

Each setting flag takes one value or several comma-separated values; several values
are swept (every combination). Settings not given take their defaults (AdamW, friedman3
n=1000, MLP 50x50, batch size 16, 30 epochs). Flags override a --config file.

Every finished config is stored at once; running the same sweep again (or
`optiscope resume NAME`) trains only what is missing.

\b
Examples:
  optiscope sweep --lr 0.1,0.01,0.001 --weight-decay 0,0.01,0.1 --seeds 5
  optiscope sweep --config sweep.toml --epochs 10 --yes
  optiscope sweep --optimizer adamw,sgd --momentum 0.9 --lr 0.1,0.01 --dry-run
  optiscope sweep --lr 0.1,0.01 --seeds 100 --backend ray --address auto
"""


@click.command("sweep", help=SWEEP_HELP)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sweep spec file (.toml, .yaml or .json); flags override it.",
)
@setting_options(SETTINGS)
@click.option("--seeds", default=None, help="Seeds: a count (5 = seeds 0-4) or a list (0,3,7).")
@click.option("--name", default=None, help="Sweep name in the store  [default: from the spec]")
@STORE_OPTION
@click.option("--engine", default=None, help="Training engine (default: the fastest exact one).")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Worker processes.")
@backend_options
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help=YES_HELP,
)
@click.option("--dry-run", is_flag=True, help="Check and list the configs; train nothing.")
@click.option(
    "--save-spec",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the merged spec (.toml, .yaml or .json).",
)
@click.option("--force", is_flag=True, help="Take over configs left running by another host.")
@click.option(
    "--extend",
    is_flag=True,
    help="Add configs to the stored sweep of this --name (it keeps all it has).",
)
@FIGURE_OPTIONS
@click.option("--baseline", default=None, help="Compare with this config: lr=0.01,weight_decay=0.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sweep_command(
    config_file: Path | None,
    seeds: str | None,
    name: str | None,
    store: Path | None,
    engine: str | None,
    workers: int | None,
    backend: str | None,
    address: str | None,
    yes: bool,
    dry_run: bool,
    save_spec: Path | None,
    force: bool,
    extend: bool,
    out: Path | None,
    baseline: str | None,
    as_json: bool,
    quiet: bool,
    **options: Any,
) -> None:
    from optiscope.sweeps import SweepSpec

    figure = figure_options(options)
    values = {name: parse_setting(name, text) for name, text in options.items() if text is not None}
    seed_values = parse_seeds(seeds) if seeds is not None else None
    with user_mistake():
        base = SweepSpec.load(config_file) if config_file is not None else SweepSpec()
        spec = base.with_overrides(values, seeds=seed_values, name=name)
        if save_spec is not None:
            spec.save(save_spec)
            click.echo(f"wrote {save_spec}", err=True)
    run_and_report(
        spec,
        store=store,
        engine=engine,
        workers=workers,
        backend=backend,
        address=address,
        yes=yes,
        quiet=quiet,
        dry_run=dry_run,
        force=force,
        extend=extend,
        out=out,
        as_json=as_json,
        baseline=baseline,
        figure=figure,
    )


RESUME_HELP = """Continue a sweep: train only the configs that are not stored yet.

Configs left running by an interrupted sweep (Ctrl-C, a killed process, power loss)
are recovered and trained again; finished ones are never trained twice.

\b
Example:
  optiscope resume lr-weight_decay-3fa2c1
  optiscope resume lr-weight_decay-3fa2c1 --backend ray
"""


@click.command("resume", help=RESUME_HELP)
@click.argument("name")
@STORE_OPTION
@click.option("--engine", default=None, help="Training engine (default: the fastest exact one).")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Worker processes.")
@backend_options
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help=YES_HELP,
)
@click.option("--force", is_flag=True, help="Take over configs left running by another host.")
@FIGURE_OPTIONS
@click.option("--baseline", default=None, help="Compare with this config: lr=0.01,weight_decay=0.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def resume_command(
    name: str,
    store: Path | None,
    engine: str | None,
    workers: int | None,
    backend: str | None,
    address: str | None,
    yes: bool,
    force: bool,
    out: Path | None,
    baseline: str | None,
    as_json: bool,
    quiet: bool,
    **options: Any,
) -> None:
    from optiscope.storage import SqliteStore
    from optiscope.sweeps import SweepSpec

    with user_mistake(), SqliteStore(store, create=False) as target:
        spec = SweepSpec.from_dict(target.sweep_info(name).spec)
    run_and_report(
        spec,
        store=store,
        engine=engine,
        workers=workers,
        backend=backend,
        address=address,
        yes=yes,
        quiet=quiet,
        dry_run=False,
        force=force,
        out=out,
        as_json=as_json,
        baseline=baseline,
        figure=figure_options(options),
    )


COMMANDS: list[click.Command] = [sweep_command, resume_command, runs_group, doctor_command]
