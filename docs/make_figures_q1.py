"""Regenerate the figures and tables of docs/exercise-q1.md.

Run from the repository root:  .venv/bin/python docs/make_figures_q1.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from optiscope import DataSpec, compare_configs

IMAGES = Path(__file__).resolve().parent / "images"

SWEEPS = {
    "lr": [1, 0.1, 0.01, 0.001],
    "batch_size": [2, 4, 8, 16, 32, 64],
    "weight_decay": [0.5, 0.25, 0.125, 0.0625, 0.03125],
    "beta1": [0.5, 0.85, 0.9, 0.95, 0.99, 0.999],
    "beta2": [0.99, 0.999, 0.9999],
}


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    for name, values in SWEEPS.items():
        slug = name.replace("_", "-")
        result = compare_configs(epochs=30, **{name: values}, progress=True)
        result.save(IMAGES / f"q1-{slug}.png")
        print(f"\n## {name} (true RMSE), {result.seconds:.1f} s")
        print(result.summary().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if name == "lr":
            scaled = compare_configs(epochs=30, lr=values, data=DataSpec(standardize=True))
            scaled.save(IMAGES / "q1-lr-standardized.png")
            print("\n## lr, standardized features and target (RMSE in target sd units)")
            print(scaled.summary().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if name == "batch_size":
            result.save(IMAGES / "q1-batch-size-step.png", x="step", log_x=True)
            seconds = result.frame.groupby("config", observed=True)["seconds"].last()
            print("\ntraining seconds per config (default engine):", seconds.round(2).to_dict())
            # The seconds axis is drawn for the plain PyTorch loop, as the page describes it.
            plain = compare_configs(epochs=30, batch_size=values, engine="reference")
            plain.save(IMAGES / "q1-batch-size-seconds.png", x="seconds")
            seconds = plain.frame.groupby("config", observed=True)["seconds"].last()
            print("training seconds per config (reference engine):", seconds.round(2).to_dict())
            course = compare_configs(epochs=30, batch_size=values, metric="batch_rmse")
            course.save(IMAGES / "q1-batch-size-course-metric.png")
            print("\n## batch_size (the exercise's batch metric)")
            print(course.summary().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
