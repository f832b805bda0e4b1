"""``optiscope runs compare`` (optimizers at equal tuning effort, from a stored sweep) and
``optiscope lr-find`` (the lr range test, checked).

``runs compare`` is registered on the ``runs`` group (``_runs.runs_group``) when this module is
imported; ``COMMANDS`` holds the top-level commands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from optiscope.cli._options import FIGURE_SUFFIXES, check_output, out_option
from optiscope.cli._runs import STORE_OPTION, runs_group, user_mistake
from optiscope.cli._settings import parse_seeds, parse_setting, setting_options
from optiscope.settings import SETTINGS

if TYPE_CHECKING:
    from optiscope.api import LrFindResult, OptimizerComparison, TuningFlag

__all__ = [
    "COMMANDS",
    "flag_advice",
    "lr_find_command",
    "print_comparison",
    "print_lr_find",
    "runs_compare",
]


def flag_advice(flag: TuningFlag) -> str:
    """What to do about a flag raised by the tuning playbook's checks."""
    if flag.kind == "edge":
        step = "smaller" if flag.side == "smallest" else "larger"
        return f"extend the grid with {step} {flag.setting} values (`--extend`)"
    if flag.kind == "diverged":
        return "narrow the grid to settings that train; the diverged share is budget spent"
    return "finish the sweep first (`optiscope resume NAME`)"


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.4g} [{low:.4g}, {high:.4g}]"


def print_comparison(found: OptimizerComparison) -> None:
    """The per-optimizer table, the expected best by budget, the pairs, and the flags."""
    table = found.table()
    direction = "lower" if found.goal == "min" else "higher"
    click.echo(f"sweep {found.name}: final validation {found.metric} ({direction} is better)")
    head = table[["optimizer", "configs", "seeds", "runs", "diverged", "tuned", "tuned_mean"]]
    click.echo(head.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    budgets = [c for c in table.columns if c.startswith("best_of_") and c[-1].isdigit()]
    click.echo("\nexpected best after k random configs of each grid [bootstrap band]:")
    shown = table[["optimizer"]].copy()
    for column in budgets:
        shown[column] = [
            _cell(v, lo, hi)
            for v, lo, hi in zip(
                table[column], table[f"{column}_low"], table[f"{column}_high"], strict=True
            )
        ]
    click.echo(shown.to_string(index=False))
    pairs = found.improvement
    if not pairs.empty:
        click.echo("\npaired over seeds, tuned config against tuned config (ties count 1/2):")
        order = {name: i for i, name in enumerate(found.data.optimizers)}
        for a, b, p, low, high in pairs.itertuples(index=False):
            if order[a] < order[b] and not math.isnan(float(p)):  # P(b beats a) = 1 - P(a beats b)
                click.echo(f"  P({a} beats {b}) = {p:.2f} [{low:.2f}, {high:.2f}]")
    for flag in found.flags:
        click.echo(f"check: {flag}; {flag_advice(flag)}", err=True)


@runs_group.command("compare")
@click.argument("name")
@STORE_OPTION
@out_option("compare-NAME.png")
@click.option(
    "--resamples",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the bands and intervals.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Coverage of the bands and intervals.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def runs_compare(
    name: str,
    store: Path | None,
    out: Path | None,
    resamples: int,
    confidence: float,
    as_json: bool,
) -> None:
    """Compare a sweep's optimizers at equal tuning effort.

    For each optimizer: the expected best final validation metric after k random configs of
    its grid (Tang et al. 2020's unbiased estimator, bootstrap bands), the paired probability
    that its tuned config beats another's over seeds, and the tuning playbook's checks (best
    config on the edge of the grid, many diverged runs).
    """
    from optiscope.api import SweepResult

    path = out or Path(f"compare-{name}.png")
    check_output(path, FIGURE_SUFFIXES, "--out")
    with user_mistake():
        result = SweepResult.load(name, store=store)
    found = result.compare_optimizers(resamples=resamples, confidence=confidence)
    if as_json:
        data: dict[str, Any] = found.to_json_dict()
        for flag in data["flags"]:
            flag["advice"] = flag_advice(next(f for f in found.flags if str(f) == flag["text"]))
        click.echo(json.dumps(data, indent=2))
    else:
        print_comparison(found)
    click.echo(f"wrote {found.save(path)}", err=True)


def print_lr_find(found: LrFindResult) -> None:
    """Each config's suggestions, over the seeds, and how far they land from the check's best."""
    table = found.table()
    if table.empty:
        return
    shown = table[["config", "method", "seeds"]].copy()
    shown["lr (seeds' range)"] = [
        _cell(v, lo, hi) for v, lo, hi in zip(table["lr"], table["lr_low"], table["lr_high"],
                                              strict=True)
    ]  # fmt: skip
    if found.checks:
        shown["best_lr"] = [f"{v:.3g}" for v in table["best_lr"]]
        shown["decades off (range)"] = [
            "-" if math.isnan(v) else f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]"
            for v, lo, hi in zip(
                table["decades"], table["decades_low"], table["decades_high"], strict=True
            )
        ]
        shown[f"{found.metric} at lr"] = [f"{v:.4g}" for v in table["at_suggestion"]]
        shown[f"{found.metric} at best"] = [f"{v:.4g}" for v in table["at_best"]]
    click.echo(shown.to_string(index=False))
    for config in table[table["best_on_edge"]]["config"].unique():
        click.echo(
            f"check: {config}: the best lr is an end of the checked lrs; the true best may "
            f"lie beyond them: widen them with --lr",
            err=True,
        )


LR_FIND_HELP = """Find a learning rate: Leslie Smith's lr range test, checked.

Trains each optimizer and seed for --steps steps while the lr grows exponentially from
--min-lr to --max-lr (all at once, one stacked model), stops each where its smoothed loss
passes 4x its best, and marks fastai's suggestions (valley, slide, minimum, steep). Then checks
them: trains constant lrs (--lr, default: half-decades around the suggestions) for --epochs
through the normal pipeline and shows how far each suggestion lands from the best lr.
"""


@click.command("lr-find", help=LR_FIND_HELP)
@setting_options(SETTINGS)
@click.option("--seeds", default="3", show_default=True, help="Seeds: a count or a list.")
@click.option("--min-lr", type=float, default=1e-7, show_default=True, help="Ramp start.")
@click.option("--max-lr", type=float, default=10.0, show_default=True, help="Ramp end.")
@click.option("--steps", type=click.IntRange(min=6), default=100, show_default=True,
              help="Steps of the ramp.")  # fmt: skip
@click.option("--no-check", is_flag=True, help="Only the range test; train no check sweep.")
@out_option("lr-find.png", fixed=True)
@click.option("--engine", default=None, help="Engine of the check sweep (default: fastest exact).")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Worker processes.")
def lr_find_command(
    seeds: str,
    min_lr: float,
    max_lr: float,
    steps: int,
    no_check: bool,
    out: Path,
    engine: str | None,
    workers: int | None,
    **options: str | None,
) -> None:
    from optiscope.api import lr_find

    check_output(out, FIGURE_SUFFIXES, "--out")
    values = {name: parse_setting(name, text) for name, text in options.items() if text is not None}
    check_lrs = values.pop("lr", None)
    settings = {k: v[0] if len(v) == 1 else v for k, v in values.items()}
    found = lr_find(
        seeds=parse_seeds(seeds),
        min_lr=min_lr,
        max_lr=max_lr,
        steps=steps,
        check=not no_check,
        check_lrs=check_lrs,
        settings=settings,
        engine=engine,
        workers=workers,
    )
    print_lr_find(found)
    timing = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in found.seconds.items())
    click.echo(f"wrote {found.save(out)} ({timing})", err=True)


COMMANDS: list[click.Command] = [lr_find_command]
