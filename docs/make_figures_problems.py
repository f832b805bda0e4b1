"""Regenerate the figures and tables of docs/problems.md.

Run from the repository root:  .venv/bin/python docs/make_figures_problems.py [PART ...]

PART is any of ``spirals``, ``schedules``, ``lr-find``, ``fair`` (default: all). Each sweep is
the one the page shows, with the page's settings, stored in a temporary store so the
repository stays clean; the tables the page quotes are printed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import optiscope
from optiscope import SweepResult, lr_find
from optiscope.cli._tuning import print_comparison
from optiscope.plotting import save_figure

IMAGES = Path(__file__).resolve().parent / "images"
pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)


def sweep(*, seeds: int, name: str, store: Path, **values: object) -> SweepResult:
    """``optiscope.sweep`` with a progress bar and no size cap (the fair sweep has 768 runs)."""
    return optiscope.sweep(
        seeds=seeds, name=name, store=store, progress=True, max_configs=None, **values
    )


def spirals(store: Path) -> None:
    result = sweep(
        dataset="spirals",
        noise=0.05,
        optimizer=["adamw", "sgd"],
        lr=[0.3, 0.1, 0.03, 0.01],
        momentum=0.9,
        metric="accuracy",
        epochs=60,
        seeds=5,
        name="spirals",
        store=store,
    )
    result.save(IMAGES / "problems-spirals.png", facet="optimizer")
    save_figure(
        result.plot_decision_boundaries(resolution=60),
        IMAGES / "problems-spirals-boundaries.png",
        close=True,
    )
    show = ["rank", "config", "status", "final_mean", "final_sd", "final_ci_low", "final_ci_high"]
    print(result.summary()[show].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def schedules(store: Path) -> None:
    result = sweep(
        schedule=["constant", "cosine"],
        warmup=[0, 100],
        lr=[0.1, 0.03, 0.01],
        seeds=5,
        name="schedules",
        store=store,
    )
    result.save(IMAGES / "problems-schedules.png", facet="lr")
    save_figure(result.plot_lr(x="step"), IMAGES / "problems-schedules-lr.png", close=True)
    show = ["rank", "config", "final_mean", "final_sd", "diff_mean", "diff_ci_low", "diff_ci_high"]
    summary = result.summary(baseline={"lr": 0.03, "schedule": "constant"})
    print(summary[show].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def lr_find_part() -> None:
    started = time.perf_counter()
    found = lr_find(["adam", "sgd"], seeds=3)
    print(f"lr-find: {time.perf_counter() - started:.1f} s ({found.seconds})")
    found.save(IMAGES / "problems-lr-find.png")
    print(found.table().to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def fair(store: Path) -> None:
    result = sweep(
        optimizer=["adamw", "adam", "sgd", "rmsprop"],
        lr=[1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003],
        weight_decay=[0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1],
        momentum=0.9,
        standardize=True,
        seeds=3,
        name="four-optimizers",
        store=store,
    )
    found = result.compare_optimizers()
    found.save(IMAGES / "problems-fair.png")
    print_comparison(found)  # what `optiscope runs compare four-optimizers` prints
    frame = result.frame
    last = frame[frame["epoch"] == frame.groupby("key")["epoch"].transform("max")]
    diverged = last[last["status"] == "diverged"]
    print("diverged runs by optimizer and lr:")
    print(diverged.groupby(["optimizer", "lr"]).size().to_string())
    if result.run is not None:
        print(f"\n{result.run.trained} runs in {result.run.seconds:.1f} s")


def main(parts: list[str]) -> None:
    IMAGES.mkdir(exist_ok=True)
    wanted = parts or ["spirals", "schedules", "lr-find", "fair"]
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "results.sqlite"
        for part in wanted:
            print(f"== {part}", flush=True)
            if part == "spirals":
                spirals(store)
            elif part == "schedules":
                schedules(store)
            elif part == "lr-find":
                lr_find_part()
            elif part == "fair":
                fair(store)
            else:
                raise SystemExit(f"unknown part {part!r}")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
