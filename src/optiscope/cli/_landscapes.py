"""2-D landscape commands: ``rosenbrock``, ``race``, ``heatmap``, ``weight-decay``, ``functions``.

Optimizers and functions are written the same way on every command: a name, then
``key=value`` pairs, in one quoted argument::

    --opt "momentum lr=0.01 beta=0.9"     --opt "adam lr=0.1 betas=0.9,0.99"
    --fn himmelblau                        --fn "rosenbrock a=1 b=2"

Registered optimizers are ``momentum`` (the exercise's, from scratch), ``sgd``, ``adam``,
``adamw``, ``rmsprop``, ``adagrad``, ``nadam``, ``radam`` and ``adamax``; any other
``torch.optim`` class works by its name (``asgd``, ``lbfgs``...). torch is imported inside
the commands, so ``optiscope --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from optiscope import grammar
from optiscope.cli._options import FIGURE_SUFFIXES, check_output, out_option
from optiscope.errors import ConfigError

__all__ = ["COMMANDS", "check_named", "parse_axis", "parse_point"]

OPT_HELP = (
    'An optimizer: a name and key=value settings in one quoted argument, e.g. "momentum lr=0.01 '
    'beta=0.9" or "adam lr=0.1 betas=0.9,0.99".'
)
#: Said only in the help of options declared ``multiple=True`` (a test holds every command to
#: it): click keeps the last of a repeated single-valued option without a word.
REPEAT_HELP = " Repeat for several."
FC = TypeVar("FC", bound=Callable[..., Any])

FN_HELP = 'A test function, e.g. himmelblau or "rosenbrock a=1 b=2" (see optiscope functions).'
OPT_EXAMPLE = '"momentum lr=0.01 beta=0.9" or "adam lr=0.1 betas=0.9,0.99"'
FN_EXAMPLE = '"rosenbrock a=1 b=2"'


def one_value(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str:
    """Callback of an option declared ``multiple=True`` only to see a repeat and refuse it
    (click would keep the last value silently).

    Raises:
        click.BadParameter: naming the flag and the values given.
    """
    if len(values) > 1:
        given = ", ".join(repr(v) for v in values)
        raise click.BadParameter(
            f"given {len(values)} times ({given}); `optiscope {ctx.info_name}` takes one",
            param=param,
        )
    return values[0]


def one_opt(default: str, help: str) -> Callable[[FC], FC]:
    """``--opt`` of a command that runs one optimizer: a repeat is refused (:func:`one_value`)."""
    return click.option(
        "--opt",
        "opt",
        multiple=True,
        default=(default,),
        callback=one_value,
        show_default=True,
        help=help,
    )


def _flag_error(flag: str, err: Exception) -> click.BadParameter:
    return click.BadParameter(str(err).removesuffix("."), param_hint=flag)


def parse_point(flag: str, text: str) -> tuple[float, float]:
    """``"-1,2"`` -> ``(-1.0, 2.0)`` (:func:`optiscope.grammar.parse_point`).

    Raises:
        click.BadParameter: naming the flag, for anything but two finite numbers.
    """
    try:
        return grammar.parse_point(text)
    except ConfigError as err:
        raise _flag_error(flag, err) from None


def parse_axis(flag: str, text: str, default_n: int) -> grammar.Axis:
    """A heatmap axis, ``NAME=START..STOP[:N][:log]`` or ``NAME=V1,V2,...``
    (:func:`optiscope.grammar.parse_axis`).

    Raises:
        click.BadParameter: naming the flag and what is wrong.
    """
    try:
        return grammar.parse_axis(text, default_n)
    except ConfigError as err:
        raise _flag_error(flag, err) from None


def check_named(flag: str, text: str, example: str) -> tuple[str, dict[str, Any]]:
    """``--opt``/``--fn`` text as ``(name, settings)``, its grammar checked before torch loads.

    Raises:
        click.BadParameter: naming the flag, for text that is not ``name key=value ...``.
    """
    try:
        return grammar.parse_named(text, example=example)
    except ConfigError as err:
        raise _flag_error(flag, err) from None


def _write_csv(frame: Any, path: Path | None, written: list[Path]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        written.append(path)


def _report(written: list[Path], seconds: float | None = None) -> None:
    for path in written:
        click.echo(f"wrote {path}", err=True)
    if seconds is not None:
        click.echo(f"ran in {seconds:.1f} s", err=True)


def _json_ready(value: Any) -> Any:
    """``value`` with every non-finite float as ``None``: JSON has no NaN (DESIGN.md, Web)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def _echo_json(value: Any) -> None:
    """Print ``value`` as strict JSON (``null`` for NaN and infinities)."""
    click.echo(json.dumps(_json_ready(value), indent=2, allow_nan=False, default=str))


def _table(frame: Any) -> str:
    return str(frame.to_string(index=False, float_format=lambda v: f"{v:.6g}"))


_DECAY = click.Choice(["decoupled", "l2"])


@click.command("functions")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def functions_command(as_json: bool) -> None:
    """List the 2-D test functions: formula, minima, plotting domain and default start."""
    from optiscope.landscapes import LANDSCAPES

    if as_json:
        click.echo(json.dumps([f.describe() for f in LANDSCAPES.values()], indent=2))
        return
    for f in LANDSCAPES.values():
        params = ", ".join(f"{k}={v:g}" for k, v in f.params) or "none"
        minima = ", ".join(f"({x:.6g}, {y:.6g})" for x, y in f.minima)
        (x0, x1), (y0, y1) = f.domain
        click.echo(f"{f.name}: {f.formula}")
        click.echo(f"    parameters: {params}")
        click.echo(f"    minima: {minima}, value {f.min_value:g}")
        click.echo(f"    domain: x in [{x0:g}, {x1:g}], y in [{y0:g}, {y1:g}]; start {f.start}")
        click.echo(f"    {f.notes}")


@click.command("rosenbrock")
@click.option("--steps", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=0.01, show_default=True, type=float, help="Step size.")
@click.option("--beta", default=0.9, show_default=True, type=float, help="Momentum, in [0, 1).")
@click.option("--a", "a", default=1.0, show_default=True, type=float, help="Rosenbrock's a.")
@click.option(
    "--b",
    "b",
    default=2.0,
    show_default=True,
    type=float,
    help="Rosenbrock's b (the exercise: 2; the canonical function: 100).",
)
@click.option("--start", default="-1,2", show_default=True, help="Start x,y.")
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--decay", default="decoupled", show_default=True, type=_DECAY)
@out_option("rosenbrock.png", fixed=True)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the path (step, x, y, value) as CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rosenbrock_command(
    steps: int,
    lr: float,
    beta: float,
    a: float,
    b: float,
    start: str,
    weight_decay: float,
    decay: str,
    out: Path,
    csv_path: Path | None,
    as_json: bool,
) -> None:
    """Question 2: momentum from scratch on the exercise's Rosenbrock function.

    \b
    Examples:
      optiscope rosenbrock --steps 500 --lr 0.01 --beta 0.9
      optiscope rosenbrock --b 100 --steps 2000 --lr 0.002 --out canonical.png
    """
    point = parse_point("--start", start)
    check_output(out, FIGURE_SUFFIXES, "--out")
    check_output(csv_path, (".csv",), "--csv")
    from optiscope.exercise import optimize_rosenbrock

    result = optimize_rosenbrock(
        steps, lr, beta, a=a, b=b, start=point, weight_decay=weight_decay, decay=decay
    )
    written = [result.save(out)]
    _write_csv(result.frame, csv_path, written)
    x, y = result.final
    done = result.status == "done"
    summary = {
        "status": result.status,
        "diverged_step": result.trajectory.diverged_step,
        "final_x": x if done else None,
        "final_y": y if done else None,
        "final_value": result.trajectory.value[-1] if done else None,
        "distance": result.distance,
        "minimum": list(result.landscape.minima[0]),
    }
    if as_json:
        _echo_json(summary)
    else:
        # a diverged path has no final value or distance: say where it diverged instead
        where = (
            f"ended at ({x:.6g}, {y:.6g}), value {result.trajectory.value[-1]:.6g}; distance to "
            f"the minimum {result.distance:.6g}"
            if done
            else f"diverged at step {result.trajectory.diverged_step}"
        )
        click.echo(
            f"{result.trajectory.label} on {result.landscape.label}, {steps} steps from "
            f"{point}: {where}"
        )
    _report(written)


@click.command("race")
@click.option("--fn", default="rosenbrock", show_default=True, help=FN_HELP)
@click.option(
    "--opt",
    "opts",
    multiple=True,
    help=OPT_HELP + REPEAT_HELP + "  [default: momentum, sgd, adam, adamw]",
)
@click.option("--steps", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--start", default=None, help="Start x,y  [default: the function's]")
@click.option(
    "--weight-decay",
    default=0.0,
    show_default=True,
    type=float,
    help="Extra weight decay for every optimizer.",
)
@click.option("--decay", default="decoupled", show_default=True, type=_DECAY)
@out_option("race-<fn>.png")
@click.option(
    "--gif",
    "gif",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write an animated GIF.",
)
@click.option(
    "--frames",
    default=48,
    show_default=True,
    type=click.IntRange(min=2),
    help="The most GIF frames (denser at the start; frames that would repeat a step are dropped).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the paths (optimizer, step, x, y, value, distance) as CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def race_command(
    fn: str,
    opts: tuple[str, ...],
    steps: int,
    start: str | None,
    weight_decay: float,
    decay: str,
    out: Path | None,
    gif: Path | None,
    frames: int,
    csv_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Race optimizers from the same start on a 2-D function, nothing added.

    \b
    Examples:
      optiscope race --fn himmelblau --opt "momentum lr=0.01 beta=0.9" --opt "adam lr=0.1"
      optiscope race --fn "rosenbrock b=100" --steps 2000 --opt "sgd lr=0.001 momentum=0.9"
      optiscope race --fn himmelblau --opt momentum --opt adam --opt rmsprop --gif race.gif
    """
    check_named("--fn", fn, FN_EXAMPLE)
    optimizers = [check_named("--opt", text, OPT_EXAMPLE) for text in opts]
    point = parse_point("--start", start) if start is not None else None
    check_output(out, FIGURE_SUFFIXES, "--out")
    check_output(gif, (".gif",), "--gif")
    check_output(csv_path, (".csv",), "--csv")
    from optiscope.api import race

    result = race(
        fn,
        optimizers or None,
        start=point,
        steps=steps,
        weight_decay=weight_decay,
        decay=decay,
        progress=not quiet,
    )
    written = [result.save(out or Path(f"race-{result.landscape.name}.png"))]
    if gif is not None:
        written.append(result.to_gif(gif, frames=frames, progress=not quiet))
    _write_csv(result.frame, csv_path, written)
    if as_json:
        _echo_json(result.to_json_dict())
    else:
        columns = [
            "optimizer",
            "status",
            "final_x",
            "final_y",
            "final_value",
            "distance",
            "steps_to_tol",
        ]
        table = result.summary()
        diverged = table["status"] == "diverged"
        table["status"] = table["status"].where(
            ~diverged, "diverged at step " + table["diverged_step"].astype(str)
        )
        click.echo(_table(table[columns]))
    _report(written, result.seconds)


@click.command("heatmap")
@click.option("--fn", default="rosenbrock a=1 b=2", show_default=True, help=FN_HELP)
@one_opt("momentum", 'A registered optimizer with its fixed settings, e.g. "adam eps=1e-8".')
@click.option(
    "--x",
    "x_axis",
    default="lr=1e-3..1:64:log",
    show_default=True,
    help="x-axis: NAME=START..STOP[:N][:log] or NAME=V1,V2,...",
)
@click.option(
    "--y", "y_axis", default="beta=0..0.99:64", show_default=True, help="y-axis, same syntax."
)
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--tol",
    default=1e-3,
    show_default=True,
    type=float,
    help="Distance to a minimum that counts as reached.",
)
@click.option("--start", default=None, help="Start x,y  [default: the function's]")
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--decay", default="decoupled", show_default=True, type=_DECAY)
@out_option("heatmap.png", fixed=True)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one row per cell as CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def heatmap_command(
    fn: str,
    opt: str,
    x_axis: str,
    y_axis: str,
    steps: int,
    tol: float,
    start: str | None,
    weight_decay: float,
    decay: str,
    out: Path,
    csv_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Sensitivity map: final distance and steps to the minimum over two hyperparameters.

    All cells run as one batched computation.

    \b
    Examples:
      optiscope heatmap --opt momentum --x lr=1e-3..1:64:log --y beta=0..0.99:64
      optiscope heatmap --fn himmelblau --opt adam --x lr=1e-3..1:32:log --y beta1=0..0.99:32
    """
    x, y = parse_axis("--x", x_axis, 32), parse_axis("--y", y_axis, 32)
    x_name, y_name = x.name, y.name
    if x_name == y_name:
        raise click.BadParameter(
            f"--x and --y both set {x_name!r}; choose two hyperparameters", param_hint="--y"
        )
    check_named("--fn", fn, FN_EXAMPLE)
    optimizer = check_named("--opt", opt, OPT_EXAMPLE)
    point = parse_point("--start", start) if start is not None else None
    check_output(out, FIGURE_SUFFIXES, "--out")
    check_output(csv_path, (".csv",), "--csv")
    from optiscope.api import sensitivity_map

    result = sensitivity_map(
        fn,
        optimizer,
        (x, y),
        steps=steps,
        tol=tol,
        start=point,
        weight_decay=weight_decay,
        decay=decay,
        progress=not quiet,
    )
    written = [result.save(out)]
    _write_csv(result.frame, csv_path, written)
    cells = result.diverged.size
    best = result.frame.sort_values("final_distance").head(1).to_dict(orient="records")[0]
    summary = {
        "cells": int(cells),
        "diverged": int(result.diverged.sum()),
        "reached": int((result.reached_step >= 0).sum()),
        "tol": tol,
        "best": {k: v for k, v in best.items() if k in (x_name, y_name, "final_distance")},
        "seconds": result.seconds,
    }
    if as_json:
        _echo_json(summary)
    else:
        click.echo(
            f"{cells} cells: {summary['reached']} reached {tol:g}, {summary['diverged']} diverged; "
            f"closest: {x_name}={best[x_name]:.4g}, {y_name}={best[y_name]:.4g} "
            f"(distance {best['final_distance']:.3g})"
        )
    _report(written, result.seconds)


@click.command("weight-decay")
@click.option("--fn", default="rosenbrock a=1 b=2", show_default=True, help=FN_HELP)
@click.option(
    "--wd", default="0,0.01,0.03,0.1,0.3", show_default=True, help="Comma-separated decay rates."
)
@one_opt("momentum lr=0.01 beta=0.9", OPT_HELP + " One per run.")
@click.option("--decay", default="decoupled", show_default=True, type=_DECAY)
@click.option("--steps", default=3000, show_default=True, type=click.IntRange(min=1))
@click.option("--start", default=None, help="Start x,y  [default: the function's]")
@out_option("weight-decay.png", fixed=True)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def weight_decay_command(
    fn: str,
    wd: str,
    opt: str,
    decay: str,
    steps: int,
    start: str | None,
    out: Path,
    as_json: bool,
) -> None:
    """Question 3: where weight decay moves the answer on a function with no data.

    \b
    Examples:
      optiscope weight-decay --fn "rosenbrock a=1 b=2" --wd 0,0.01,0.1
      optiscope weight-decay --opt "adam lr=0.01" --decay l2 --steps 5000
    """
    from optiscope.cli._options import parse_number_list

    rates = parse_number_list("--wd", wd, float)
    check_named("--fn", fn, FN_EXAMPLE)
    optimizer = check_named("--opt", opt, OPT_EXAMPLE)
    point = parse_point("--start", start) if start is not None else None
    check_output(out, FIGURE_SUFFIXES, "--out")
    from optiscope.api import weight_decay_bias

    result = weight_decay_bias(
        fn, rates, optimizer=optimizer, decay=decay, steps=steps, start=point
    )
    written = [result.save(out)]
    frame = result.frame
    if as_json:
        _echo_json(frame.to_dict(orient="records"))
    else:
        click.echo(
            _table(
                frame[
                    [
                        "weight_decay",
                        "fixed_x",
                        "fixed_y",
                        "fixed_distance",
                        "final_distance",
                        "final_to_fixed",
                    ]
                ]
            )
        )
    _report(written)


COMMANDS: list[click.Command] = [
    functions_command,
    rosenbrock_command,
    race_command,
    heatmap_command,
    weight_decay_command,
]
