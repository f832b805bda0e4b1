"""``optiscope sweep`` and ``optiscope resume``: durable multi-seed sweeps from the terminal.

The ``runs`` and ``doctor`` commands (reading the store) live in ``_runs.py``; this module's
``COMMANDS`` registers them all.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from optiscope.cli._options import FIGURE_SUFFIXES, check_output
from optiscope.cli._runs import (
    FIGURE_OPTIONS,
    STORE_OPTION,
    doctor_command,
    figure_options,
    print_summary,
    runs_group,
    user_mistake,
)

if TYPE_CHECKING:
    from optiscope.sweeps import SweepRun

#: A sweep that would train more configs than this asks before it starts (``--yes`` skips).
CONFIRM_ABOVE = 500

# Lazily imported: the settings table lives with the sweep code, which imports torch.
_SETTING_FLAGS: tuple[tuple[str, str, str], ...] = (
    # (setting, kind, help)
    ("optimizer", "str", "adamw, adam, sgd, rmsprop or adagrad."),
    ("lr", "float", "Learning rate(s)."),
    ("weight_decay", "float", "Weight decay value(s) (decoupled in AdamW)."),
    ("betas", "pair", "Adam(W) betas as beta1:beta2, e.g. 0.9:0.999,0.5:0.9."),
    ("beta1", "float", "Adam(W) beta1 (the exercise's name)."),
    ("beta2", "float", "Adam(W) beta2 (the exercise's name)."),
    ("eps", "float", "Adam(W), RMSprop and Adagrad epsilon."),
    ("momentum", "float", "SGD and RMSprop momentum."),
    ("dampening", "float", "SGD dampening."),
    ("nesterov", "bool", "SGD Nesterov momentum: true, false or true,false."),
    ("alpha", "float", "RMSprop smoothing constant of the squared-gradient average."),
    ("centered", "bool", "RMSprop centered (divide by the variance): true, false or true,false."),
    ("lr_decay", "float", "Adagrad lr decay: step size lr / (1 + (t - 1) * lr_decay)."),
    ("initial_accumulator_value", "float", "Adagrad start of the sum of squared gradients."),
    ("batch_size", "int", "Batch size(s)  [default: 16]"),
    ("epochs", "int", "Epochs  [default: 30]"),
    ("hidden", "widths", "Hidden widths joined by x, e.g. 50x50,100  [default: 50x50]"),
    ("activation", "str", "relu, tanh, gelu or sigmoid  [default: relu]"),
    ("metric", "str", "rmse, or batch_rmse (the exercise's)  [default: rmse]"),
    ("shuffle", "bool", "Shuffle batches each epoch (seeded): true or false."),
    ("dataset", "str", "friedman1, friedman2, friedman3 or peak  [default: friedman3]"),
    ("n", "int", "Samples generated (train + validation)  [default: 1000]"),
    ("noise", "float", "Noise standard deviation  [default: the dataset's]"),
    ("data_seed", "int", "Seed of the data and its split  [default: 0]"),
    ("train_fraction", "float", "Share of samples used for training  [default: 0.7]"),
    ("standardize", "bool", "Scale features and target: true or false  [default: false]"),
    ("seed", "int", "One seed for every config (instead of --seeds)  [default: 123]"),
)

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_one(name: str, kind: str, piece: str) -> Any:
    flag = _flag(name)
    try:
        if kind == "float":
            return float(piece)
        if kind == "int":
            return int(piece)
        if kind == "bool":
            if piece.lower() in _TRUE | _FALSE:
                return piece.lower() in _TRUE
            raise ValueError(piece)
        if kind == "widths":
            return tuple(int(w) for w in piece.lower().split("x"))
        if kind == "pair":
            parts = piece.split(":")
            if len(parts) != 2:
                raise ValueError(piece)
            return (float(parts[0]), float(parts[1]))
    except ValueError:
        wanted = {
            "float": "numbers",
            "int": "whole numbers",
            "bool": "true or false",
            "widths": "layer widths joined by x (50x50), networks separated by commas",
            "pair": "pairs beta1:beta2 (0.9:0.999), separated by commas",
        }[kind]
        raise click.UsageError(f"{flag} takes {wanted}, got {piece!r}") from None
    return piece


def parse_setting(name: str, kind: str, text: str) -> list[Any]:
    """Parse a flag's comma-separated values (``"0.1,0.01"``) into a list of values."""
    pieces = [piece.strip() for piece in text.split(",")]
    if any(not piece for piece in pieces):
        raise click.UsageError(
            f"{_flag(name)} {text!r} has an empty value; separate values with commas"
        )
    return [_parse_one(name, kind, piece) for piece in pieces]


def parse_seeds(text: str) -> int | list[int]:
    """``5`` (a count: seeds 0-4) or ``0,3,7`` (a list)."""
    pieces = [piece.strip() for piece in text.split(",")]
    try:
        numbers = [int(piece) for piece in pieces]
    except ValueError:
        raise click.UsageError(
            f"--seeds takes a count (5 means seeds 0-4) or a list (0,3,7), got {text!r}"
        ) from None
    return numbers[0] if len(numbers) == 1 else numbers


def _setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for name, _kind, help_text in reversed(_SETTING_FLAGS):
        command = click.option(_flag(name), name, default=None, metavar="VALUES", help=help_text)(
            command
        )
    return command


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


def _confirm(to_train: int, yes: bool) -> None:
    if to_train <= CONFIRM_ABOVE or yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"this sweep would train {to_train} configs (more than {CONFIRM_ABOVE}); "
            "add --yes to run it"
        )
    click.confirm(f"Train {to_train} configs?", abort=True, err=True)


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
    as_json: bool,
    baseline: str | None,
    figure: dict[str, Any],
) -> None:
    """Check the spec, show its size, confirm, run it, then print the table and save the figure."""
    from optiscope.api import SweepResult
    from optiscope.cli._runs import parse_baseline, save_sweep_figure
    from optiscope.storage import FINISHED, SqliteStore, SweepNotFoundError, resume_hint
    from optiscope.sweeps import check_engine, run_sweep

    points = spec.expand()  # every problem, with config numbers, before anything runs
    if engine is not None:
        check_engine(engine)
    name = spec.resolved_name
    reference = parse_baseline(baseline)
    SweepResult.planned(spec, points).check_view(reference, figure["facet"])
    if not dry_run:
        out = out or Path(f"sweep-{name}.png")
        check_output(out, FIGURE_SUFFIXES, "--out")
    with SqliteStore(store) as target:
        statuses = target.statuses([p.config.key() for p in points])
        done = sum(statuses.get(p.config.key()) in FINISHED for p in points)
        to_train = len(points) - done
        click.echo(
            f"sweep {name}: {spec.describe(distinct=len(points))}; {done} already in "
            f"{target.path}, {to_train} to train",
            err=True,
        )
        if dry_run:
            for point in points:
                state = statuses.get(point.config.key(), "new")
                click.echo(f"{point.number:>5}  {point.label}, seed {point.seed}  [{state}]")
            return
        _confirm(to_train, yes)
        try:
            with _sigterm_as_interrupt():
                run = run_sweep(
                    spec,
                    store=target,
                    engine=engine,
                    workers=workers,
                    progress=not quiet,
                    force=force,
                )
        except KeyboardInterrupt:
            finished = 0
            with contextlib.suppress(SweepNotFoundError):  # interrupted before it was stored
                finished = target.sweep_info(name).finished
            click.echo(
                f"optiscope: interrupted: {finished} of {len(points)} configs of {name} are "
                f"stored in {target.path}; continue with {resume_hint(name, target.path)}",
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
    from optiscope.storage import resume_hint, store_flag

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
"""


@click.command("sweep", help=SWEEP_HELP)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sweep spec file (.toml, .yaml or .json); flags override it.",
)
@_setting_options
@click.option("--seeds", default=None, help="Seeds: a count (5 = seeds 0-4) or a list (0,3,7).")
@click.option("--name", default=None, help="Sweep name in the store  [default: from the spec]")
@STORE_OPTION
@click.option("--engine", default=None, help="Training engine (default: the fastest exact one).")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--yes", "-y", is_flag=True, help=f"Do not ask before sweeps of >{CONFIRM_ABOVE}.")
@click.option("--dry-run", is_flag=True, help="Check and list the configs; train nothing.")
@click.option(
    "--save-spec",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the merged spec (.toml, .yaml or .json).",
)
@click.option("--force", is_flag=True, help="Take over configs left running by another host.")
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
    yes: bool,
    dry_run: bool,
    save_spec: Path | None,
    force: bool,
    out: Path | None,
    baseline: str | None,
    as_json: bool,
    quiet: bool,
    **options: Any,
) -> None:
    from optiscope.sweeps import SweepSpec

    figure = figure_options(options)
    kinds = {setting: kind for setting, kind, _ in _SETTING_FLAGS}
    values = {
        setting: parse_setting(setting, kinds[setting], text)
        for setting, text in options.items()
        if text is not None
    }
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
        yes=yes,
        quiet=quiet,
        dry_run=dry_run,
        force=force,
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
"""


@click.command("resume", help=RESUME_HELP)
@click.argument("name")
@STORE_OPTION
@click.option("--engine", default=None, help="Training engine (default: the fastest exact one).")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--yes", "-y", is_flag=True, help=f"Do not ask before sweeps of >{CONFIRM_ABOVE}.")
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
