"""``optiscope runs list|show|plot|export|rm`` and ``optiscope doctor``: the results store.

Registered through ``_sweeps.COMMANDS``. Reading never blocks a sweep that is writing (WAL).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from optiscope.cli._options import FIGURE_SUFFIXES, check_output, out_option

if TYPE_CHECKING:
    from optiscope.api import SweepResult

_X_AXES = ["epoch", "step", "samples", "seconds"]
_FIGURE_KEYS = ("band", "confidence", "seed_lines", "x_axis", "log_y", "log_x", "facet")
# Summary columns printed in the terminal (the swept settings are in the label already).
_SHOWN = (
    "rank",
    "config",
    "status",
    "seeds",
    "final_mean",
    "final_sd",
    "final_ci_low",
    "final_ci_high",
    "best_mean",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
)

STORE_OPTION = click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Results store file  [default: $OPTISCOPE_STORE or ./.optiscope/results.sqlite]",
)


def FIGURE_OPTIONS(command: Callable[..., Any]) -> Callable[..., Any]:  # noqa: N802 (a decorator)
    """The figure flags shared by ``sweep``, ``resume`` and ``runs plot``."""
    decorators = [
        click.option(
            "--out",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Figure file (.png, .svg or .pdf)  [default: sweep-NAME.png]",
        ),
        click.option(
            "--band",
            type=click.Choice(["std", "ci"]),
            default="std",
            show_default=True,
            help="std: mean ± 1 sd of the seeds; ci: t-interval of the mean.",
        ),
        click.option(
            "--confidence",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.95,
            show_default=True,
            help="Coverage of --band ci and of the summary's intervals.",
        ),
        click.option("--seed-lines", is_flag=True, help="Also draw every seed's own line."),
        click.option(
            "--x",
            "x_axis",
            type=click.Choice(_X_AXES),
            default="epoch",
            show_default=True,
            help="x-axis of the figure. seconds: under the vectorized engine, configs "
            "trained together share their group's time (the axis says so).",
        ),
        click.option("--log-y", is_flag=True, help="Logarithmic y-axis."),
        click.option("--log-x", is_flag=True, help="Logarithmic x-axis."),
        click.option(
            "--facet",
            default="auto",
            show_default=True,
            help="One panel per value of this swept setting; 'none' for one panel.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def figure_options(options: dict[str, Any]) -> dict[str, Any]:
    """Take the figure flags out of a command's keyword arguments, as ``plot()`` names them."""
    found = {key: options.pop(key) for key in _FIGURE_KEYS}
    facet = found["facet"]
    return {
        "x": found["x_axis"],
        "band": found["band"],
        "confidence": found["confidence"],
        "seeds": found["seed_lines"],
        "log_y": found["log_y"],
        "log_x": found["log_x"],
        "facet": None if facet.lower() == "none" else facet,
    }


@contextmanager
def user_mistake() -> Iterator[None]:
    """An unknown sweep name or store file, a file that is not a store, or a sweep name taken
    by another spec is a user mistake: exit 2 with one line and the advice, like bad
    settings."""
    from optiscope.cli._advice import advice
    from optiscope.errors import (
        ConfigError,
        NotAStoreError,
        StoreNotFoundError,
        SweepExistsError,
        SweepNotFoundError,
    )

    try:
        yield
    except (SweepNotFoundError, StoreNotFoundError, SweepExistsError, NotAStoreError) as err:
        raise ConfigError(f"{err}; {advice(err)}.") from err


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if all(part.isdigit() for part in text.lower().split("x")):
        return [int(part) for part in text.lower().split("x")]
    return text


def parse_baseline(text: str | None) -> dict[str, Any] | None:
    """``"lr=0.01,weight_decay=0"`` -> ``{"lr": 0.01, "weight_decay": 0}``."""
    if text is None:
        return None
    found = {}
    for piece in text.split(","):
        key, sep, value = piece.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.UsageError(
                f"--baseline takes setting=value pairs separated by commas, such as "
                f"lr=0.01,weight_decay=0; got {text!r}"
            )
        found[key.strip().replace("-", "_")] = _parse_value(value.strip())
    return found


def save_sweep_figure(result: SweepResult, out: Path | None, figure: Mapping[str, Any]) -> Path:
    """Save the band figure (default ``sweep-NAME.png``); returns its path."""
    path = out or Path(f"sweep-{result.name}.png")
    check_output(path, FIGURE_SUFFIXES, "--out")
    return result.save(path, **figure)


def print_summary(
    result: SweepResult, baseline: Mapping[str, Any] | None, confidence: float = 0.95
) -> None:
    """The ranked table on stdout; diverged configs are marked in ``status``."""
    summary = result.summary(baseline, confidence=confidence)
    shown = summary[[c for c in _SHOWN if c in summary.columns]]
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    marked = int((summary["diverged"] > 0).sum())
    if marked:
        click.echo(f"{marked} configs had diverged seeds (status column)", err=True)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


@click.group("runs")
def runs_group() -> None:
    """Read the results store: list sweeps, show, plot, export or remove one."""


@runs_group.command("list")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def runs_list(store: Path | None, as_json: bool) -> None:
    """List the sweeps in the store with their progress."""
    from optiscope.storage import SqliteStore
    from optiscope.sweeps import SweepSpec

    with user_mistake(), SqliteStore(store, create=False) as target:
        infos = target.sweeps()
        path = target.path
        partial = {
            info.name: sorted(target.checkpoint_epochs(info.name).values()) for info in infos
        }
    rows = []
    for info in infos:
        try:
            size = SweepSpec.from_dict(info.spec).describe(distinct=info.total)
        except ValueError:
            size = "(spec from another optiscope version)"
        rows.append(
            {
                "name": info.name,
                "configs": info.total,
                **dict(info.counts),
                "partial": len(partial[info.name]),
                "partial_epochs": partial[info.name],
                "spec": size,
                "created": info.created,
                "updated": info.updated,
                "version": info.version,
            }
        )
    if as_json:
        click.echo(json.dumps({"store": str(path), "sweeps": rows}, indent=2))
        return
    if not rows:
        click.echo(f"no sweeps in {path} yet", err=True)
        return
    import pandas as pd

    table = pd.DataFrame(rows)
    table["updated"] = [_when(v) for v in table["updated"]]
    table["partial"] = [_partial(epochs) for epochs in table["partial_epochs"]]
    columns = ["name", "configs", "done", "diverged", "error", "pending", "running", "partial"]
    click.echo(table[[*columns, "updated", "spec"]].to_string(index=False))


def _partial(epochs: Sequence[int]) -> str:
    """Unfinished configs with a checkpoint, and the epochs they reached: ``2 (epoch 3-5)``."""
    if not epochs:
        return "0"
    low, high = min(epochs), max(epochs)
    return f"{len(epochs)} (epoch {low if low == high else f'{low}-{high}'})"


@runs_group.command("show")
@click.argument("name")
@STORE_OPTION
@click.option("--baseline", default=None, help="Compare with this config: lr=0.01,weight_decay=0.")
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Coverage of the intervals.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout (runs included).")
def runs_show(
    name: str, store: Path | None, baseline: str | None, confidence: float, as_json: bool
) -> None:
    """Show a sweep: its spec, progress, and configs ranked by final loss."""
    from optiscope.api import SweepResult
    from optiscope.storage import SqliteStore

    with user_mistake():
        result = SweepResult.load(name, store=store)
        with SqliteStore(result.store, create=False) as target:
            partial = target.checkpoint_epochs(result.name)  # by key: epochs trained
    reference = parse_baseline(baseline)
    if as_json:
        data = result.to_json_dict(reference, confidence=confidence)
        data["runs"] = [
            {
                "number": run.position + 1,
                "config": run.labels.get("label"),
                "seed": run.labels.get("seed"),
                "key": run.key,
                "status": run.status,
                "starts": run.starts,
                "started": run.started,
                "finished": run.finished,
                "engine": run.engine,
                "diverged_epoch": run.diverged_epoch,
                "checkpoint_epoch": partial.get(run.key),
                "error": run.error,
                "final_valid_loss": _final(run.curve.valid_loss if run.curve else ()),
            }
            for run in result.runs
        ]
        click.echo(json.dumps(data, indent=2))
        return
    counts = ", ".join(f"{v} {k}" for k, v in result.counts.items() if v)
    if partial:
        counts += f"; partly trained: {_partial(list(partial.values()))}"
    click.echo(f"sweep {result.name} in {result.store}")
    click.echo(f"  {result.spec.describe(distinct=len(result.runs))}; {counts}")
    if result.records:
        print_summary(result, reference, confidence)
    else:
        click.echo("  nothing finished yet")


def _final(values: Any) -> float | None:
    if not values:
        return None
    value = float(values[-1])
    return value if math.isfinite(value) else None


@runs_group.command("plot")
@click.argument("name")
@STORE_OPTION
@FIGURE_OPTIONS
def runs_plot(name: str, store: Path | None, out: Path | None, **options: Any) -> None:
    """Draw a sweep's bands from the store (the same figure the sweep drew)."""
    from optiscope.api import SweepResult

    figure = figure_options(options)
    with user_mistake():
        result = SweepResult.load(name, store=store)
    click.echo(f"wrote {save_sweep_figure(result, out, figure)}", err=True)


@runs_group.command("boundaries")
@click.argument("name")
@STORE_OPTION
@out_option("boundaries-NAME.png")
@click.option("--seed", type=int, default=None, help="The seed to draw  [default: the lowest]")
@click.option(
    "--resolution",
    type=click.IntRange(min=2, max=400),
    default=80,
    show_default=True,
    help="Grid points per axis.",
)
def runs_boundaries(
    name: str, store: Path | None, out: Path | None, seed: int | None, resolution: int
) -> None:
    """Draw a 2-D classification sweep's decision boundaries, one panel per config (each
    config's network is trained again: the same weights, as training is deterministic)."""
    from optiscope.api import SweepResult
    from optiscope.plotting import save_figure

    path = out or Path(f"boundaries-{name}.png")
    check_output(path, FIGURE_SUFFIXES, "--out")
    with user_mistake():
        result = SweepResult.load(name, store=store)
        figure = result.plot_decision_boundaries(seed=seed, resolution=resolution)
    click.echo(f"wrote {save_figure(figure, path, close=True)}", err=True)


@runs_group.command("lr")
@click.argument("name")
@STORE_OPTION
@out_option("lr-NAME.png")
@click.option(
    "--x",
    "x_axis",
    default="epoch",
    show_default=True,
    type=click.Choice(["epoch", "step", "samples", "seconds"]),
    help="x-axis of the figure.",
)
@click.option("--log-y", is_flag=True, help="Logarithmic y-axis.")
def runs_lr(name: str, store: Path | None, out: Path | None, x_axis: str, log_y: bool) -> None:
    """Draw the lr each config of a sweep used, per epoch (its lr schedule, as it ran)."""
    from optiscope.api import SweepResult
    from optiscope.plotting import save_figure

    path = out or Path(f"lr-{name}.png")
    check_output(path, FIGURE_SUFFIXES, "--out")
    with user_mistake():
        result = SweepResult.load(name, store=store)
        figure = result.plot_lr(x_axis, log_y=log_y)
    click.echo(f"wrote {save_figure(figure, path, close=True)}", err=True)


@runs_group.command("export")
@click.argument("name")
@STORE_OPTION
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False, path_type=Path))
def runs_export(
    name: str, store: Path | None, csv_path: Path | None, parquet_path: Path | None
) -> None:
    """Write a sweep's tidy per-epoch table (one row per run and epoch) as CSV or Parquet."""
    from optiscope.api import SweepResult

    if csv_path is None and parquet_path is None:
        raise click.UsageError("give --csv PATH and/or --parquet PATH")
    check_output(csv_path, (".csv",), "--csv")
    check_output(parquet_path, (".parquet",), "--parquet")
    with user_mistake():
        result = SweepResult.load(name, store=store)
    for path in (csv_path, parquet_path):
        if path is not None:
            click.echo(f"wrote {result.export(path)}", err=True)


@runs_group.command("rm")
@click.argument("name")
@STORE_OPTION
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
def runs_rm(name: str, store: Path | None, yes: bool) -> None:
    """Remove a sweep, and the runs no other sweep uses."""
    from optiscope.storage import SqliteStore

    with user_mistake(), SqliteStore(store, create=False) as target:
        info = target.sweep_info(name)
        if not yes:
            if not sys.stdin.isatty():
                raise click.UsageError(f"add --yes to remove sweep {name!r}")
            click.confirm(f"Remove sweep {name} ({info.total} runs)?", abort=True, err=True)
        gone = target.remove_sweep(name)
    click.echo(f"removed sweep {name} ({gone} runs no other sweep used)", err=True)


DOCTOR_HELP = """Check the results store and say what to do about each problem.

Exit status 0 when the store is usable, 1 when it is damaged.
"""


@click.command("doctor", help=DOCTOR_HELP)
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def doctor_command(store: Path | None, as_json: bool) -> None:
    from optiscope.cli._advice import remedy_advice
    from optiscope.storage import default_store_path, diagnose

    report = diagnose(store if store is not None else default_store_path())
    advice = [remedy_advice(f.remedy, report.path, f.sweeps) for f in report.findings]
    if as_json:
        data = report.to_dict()
        for finding, text in zip(data["findings"], advice, strict=True):  # type: ignore[call-overload]
            finding["advice"] = text
        click.echo(json.dumps(data, indent=2))
    else:
        for finding, text in zip(report.findings, advice, strict=True):
            click.echo(f"{finding.level}: {finding.message}")
            if text:
                click.echo(f"  advice: {text}")
    if not report.healthy:
        sys.exit(1)
