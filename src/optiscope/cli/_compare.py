"""``optiscope compare``: the exercise's comparison of AdamW settings from the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from optiscope.cli._options import FIGURE_SUFFIXES, check_output, parse_number_list

COMMAND_HELP = """Compare AdamW settings: one curve per value of ONE setting.

Give exactly one of --batch-size, --lr, --weight-decay, --beta1, --beta2 several
comma-separated values; the others take one value each.

\b
Examples:
  optiscope compare --lr 1,0.1,0.01,0.001
  optiscope compare --batch-size 2,4,8,16,32,64 --x samples --out bs.png
  optiscope compare --beta1 0.5,0.9,0.99 --metric batch_rmse --json
"""


@click.command("compare", help=COMMAND_HELP)
@click.option("--lr", default="0.01", show_default=True, help="Learning rate(s).")
@click.option("--batch-size", default="16", show_default=True, help="Batch size(s).")
@click.option("--weight-decay", default="0.01", show_default=True, help="Weight decay value(s).")
@click.option("--beta1", default="0.9", show_default=True, help="AdamW beta1 value(s).")
@click.option("--beta2", default="0.999", show_default=True, help="AdamW beta2 value(s).")
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--seed",
    default=123,
    show_default=True,
    type=click.IntRange(min=0),
    help="torch.manual_seed before each model is built.",
)
@click.option(
    "--dataset",
    default="friedman3",
    show_default=True,
    help="friedman1, friedman2, friedman3 or peak.",
)
@click.option(
    "--n",
    "n_samples",
    default=1000,
    show_default=True,
    type=click.IntRange(min=2),
    help="Samples generated (train + validation).",
)
@click.option(
    "--noise",
    default=None,
    type=float,
    help="Noise standard deviation  [default: the dataset's, 0.1 for friedman3]",
)
@click.option("--data-seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--standardize", is_flag=True, help="Scale features and target (off in the exercise)."
)
@click.option(
    "--metric",
    default="rmse",
    show_default=True,
    type=click.Choice(["rmse", "batch_rmse"]),
    help="rmse: true RMSE; batch_rmse: the exercise's mean of per-batch RMSEs.",
)
@click.option(
    "--x",
    "x_axis",
    default="epoch",
    show_default=True,
    type=click.Choice(["epoch", "step", "samples", "seconds"]),
    help="x-axis of the figure.",
)
@click.option("--log-y", is_flag=True, help="Logarithmic y-axis.")
@click.option("--log-x", is_flag=True, help="Logarithmic x-axis (handy with --x step).")
@click.option("--engine", default=None, help="Training engine (default: the fastest exact one).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Figure file (.png, .svg or .pdf)  [default: compare-<setting>.png]",
)
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
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def compare_command(
    lr: str,
    batch_size: str,
    weight_decay: str,
    beta1: str,
    beta2: str,
    epochs: int,
    seed: int,
    dataset: str,
    n_samples: int,
    noise: float | None,
    data_seed: int,
    standardize: bool,
    metric: str,
    x_axis: str,
    log_y: bool,
    log_x: bool,
    engine: str | None,
    out: Path | None,
    csv_path: Path | None,
    parquet_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    raw = {
        "lr": ("--lr", lr, float),
        "batch_size": ("--batch-size", batch_size, int),
        "weight_decay": ("--weight-decay", weight_decay, float),
        "beta1": ("--beta1", beta1, float),
        "beta2": ("--beta2", beta2, float),
    }
    values: dict[str, Any] = {}
    for name, (flag, text, kind) in raw.items():
        parsed = parse_number_list(flag, text, kind)
        values[name] = parsed if len(parsed) > 1 else parsed[0]
    several = [raw[name][0] for name, value in values.items() if isinstance(value, list)]
    if len(several) != 1:
        which = f"several for {', '.join(several)}" if several else "one value for each"
        raise click.UsageError(
            "give exactly one of --batch-size, --lr, --weight-decay, --beta1, --beta2 several "
            f"comma-separated values (got {which}), e.g. --lr 0.1,0.01"
        )
    varied = next(name for name, value in values.items() if isinstance(value, list))
    out = out or Path(f"compare-{varied.replace('_', '-')}.png")
    check_output(out, FIGURE_SUFFIXES, "--out")
    check_output(csv_path, (".csv",), "--csv")
    check_output(parquet_path, (".parquet",), "--parquet")

    from optiscope.api import compare_configs
    from optiscope.data import get_generator
    from optiscope.records import DataSpec

    sd = get_generator(dataset).default_sd if noise is None else noise
    spec = DataSpec(name=dataset, n=n_samples, sd=sd, seed=data_seed, standardize=standardize)
    result = compare_configs(
        epochs=epochs,
        **values,
        data=spec,
        seed=seed,
        metric=metric,
        engine=engine,
        progress=not quiet,
    )
    written = [result.save(out, x=x_axis, log_y=log_y, log_x=log_x)]
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
