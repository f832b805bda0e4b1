"""``optiscope compare``: the exercise's comparison of AdamW settings from the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from optiscope.cli._options import FIGURE_SUFFIXES, check_output, confirm_size, out_option
from optiscope.cli._settings import parse_setting, setting_options
from optiscope.settings import COMPARED, EXERCISE, SETTINGS

if TYPE_CHECKING:
    from optiscope.sweeps import Plan

COMMAND_HELP = """Compare AdamW settings: one curve per value of ONE setting.

Give exactly one of --batch-size, --lr, --weight-decay, --beta1, --beta2 several
comma-separated values; the others take one value each.

\b
Examples:
  optiscope compare --lr 1,0.1,0.01,0.001
  optiscope compare --batch-size 2,4,8,16,32,64 --x samples --out bs.png
  optiscope compare --beta1 0.5,0.9,0.99 --metric batch_rmse --json
"""


# The settings `compare` takes: one of COMPARED varied, the rest one value each.
_SINGLE = (
    "epochs",
    "seed",
    "hidden",
    "activation",
    "metric",
    "shuffle",
    "eps",
    "dataset",
    "n",
    "noise",
    "d",
    "data_seed",
    "train_fraction",
    "standardize",
)


@click.command("compare", help=COMMAND_HELP)
@setting_options(COMPARED, defaults=EXERCISE)
@setting_options(_SINGLE, defaults=EXERCISE, several=False)
@click.option(
    "--x",
    "x_axis",
    default="epoch",
    show_default=True,
    type=click.Choice(["epoch", "step", "samples", "seconds"]),
    help="x-axis of the figure. seconds: under the vectorized engine, configs "
    "trained together share their group's time (the axis says so).",
)
@click.option("--log-y", is_flag=True, help="Logarithmic y-axis.")
@click.option("--log-x", is_flag=True, help="Logarithmic x-axis (handy with --x step).")
@click.option(
    "--yardstick",
    is_flag=True,
    help="Also draw the validation RMSE of always predicting the training mean (dashed): "
    "a curve above it has learnt nothing from the features.",
)
@click.option("--engine", default=None, help="Training engine (default: the fastest exact one).")
@out_option("compare-<setting>.png")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tidy per-epoch table as CSV.",
)
@click.option(
    "--parquet",
    "parquet_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tidy per-epoch table as Parquet.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout, nothing else."
)
@click.option("--yes", "-y", is_flag=True, help="Run even when the estimated time is long.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def compare_command(
    x_axis: str,
    log_y: bool,
    log_x: bool,
    yardstick: bool,
    engine: str | None,
    out: Path | None,
    csv_path: Path | None,
    parquet_path: Path | None,
    as_json: bool,
    yes: bool,
    quiet: bool,
    **options: str | None,
) -> None:
    given = {name: parse_setting(name, text) for name, text in options.items() if text is not None}
    several = [SETTINGS[name].flag for name in COMPARED if len(given.get(name, ())) > 1]
    if len(several) != 1:
        which = f"several for {', '.join(several)}" if several else "one value for each"
        hint = (
            "; to run several comparisons as one call, give `optiscope sweep --config` a spec "
            "with one [[configs]] entry per value (docs/sweeps.md)"
            if several
            else ""
        )
        raise click.UsageError(
            f"give exactly one of {', '.join(SETTINGS[n].flag for n in COMPARED)} several "
            f"comma-separated values (got {which}), e.g. --lr 0.1,0.01{hint}"
        )
    for name in _SINGLE:
        if len(given.get(name, ())) > 1:
            raise click.UsageError(
                f"{SETTINGS[name].flag} takes one value in compare; vary it with "
                f"`optiscope sweep {SETTINGS[name].flag} {options[name]}`"
            )
    varied = next(name for name in COMPARED if len(given.get(name, ())) > 1)
    out = out or Path(f"compare-{varied.replace('_', '-')}.png")
    check_output(out, FIGURE_SUFFIXES, "--out")
    check_output(csv_path, (".csv",), "--csv")
    check_output(parquet_path, (".parquet",), "--parquet")

    from optiscope.api import CompareResult, compare_configs
    from optiscope.errors import ConfigError

    values: dict[str, Any] = {n: v if n == varied else v[0] for n, v in given.items()}
    data = {k: values.pop(k) for k in list(values) if SETTINGS[k].target == "data"}

    def before_training(plan: Plan) -> None:
        if yardstick:
            metric = plan.points[0].config.metric
            try:
                CompareResult.check_yardstick(metric)
            except ConfigError:
                raise click.UsageError(
                    f"--yardstick draws a true RMSE and these runs would measure {metric}; "
                    "drop --yardstick or --metric"
                ) from None
        confirm_size(plan, yes)

    result = compare_configs(
        **values, data=data, engine=engine, progress=not quiet, on_plan=before_training
    )
    written = [result.save(out, x=x_axis, log_y=log_y, log_x=log_x, yardstick=yardstick)]
    if csv_path is not None or parquet_path is not None:
        frame = result.frame  # (built on each access: once here)
        for path, write in ((csv_path, frame.to_csv), (parquet_path, frame.to_parquet)):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                write(path, index=False)
                written.append(path)
    if as_json:
        click.echo(json.dumps(result.to_json_dict(), indent=2))
    else:
        from optiscope.settings import format_value

        summary = result.summary()
        text = summary.to_string(
            index=False,
            float_format=lambda v: f"{v:.4f}",
            formatters={result.parameter: format_value},  # 1e-05 and 0.03125 as given
        )
        click.echo(text)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    click.echo(f"{len(result.records)} configs in {result.seconds:.1f} s", err=True)
    sys.stdout.flush()


COMMANDS: list[click.Command] = [compare_command]
