"""Regenerate the figures and tables of docs/sweeps.md.

Run from the repository root:  .venv/bin/python docs/make_figures_sweeps.py

The sweep is the one the page shows, with the defaults (30 epochs, friedman3 n=1000, MLP
50-50, batch size 16, AdamW), stored in a temporary store so the repository stays clean.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from optiscope import sweep

IMAGES = Path(__file__).resolve().parent / "images"


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        result = sweep(
            lr=[0.1, 0.01, 0.001],
            weight_decay=[0, 0.01, 0.1],
            seeds=5,
            name="lr-wd",
            store=Path(folder) / "results.sqlite",
            progress=True,
        )
    result.save(IMAGES / "sweeps-lr-wd.png")
    result.save(IMAGES / "sweeps-lr-wd-ci-seeds.png", band="ci", seeds=True, log_y=True)
    show = ["rank", "config", "status", "final_mean", "final_sd", "final_ci_low", "final_ci_high"]
    summary = result.summary(baseline={"lr": 0.01, "weight_decay": 0})
    print(summary[[*show, "diff_mean", "diff_ci_low", "diff_ci_high"]].to_string(
        index=False, float_format=lambda v: f"{v:.4f}"
    ))  # fmt: skip
    if result.run is not None:
        print(f"\n{result.run.trained} configs in {result.run.seconds:.1f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
