"""Regenerate the figures of docs/exercise-q2-q3.md (questions 2 and 3 of the exercise).

Run from the repository root:

    .venv/bin/python docs/make_figures_landscapes.py

Every figure comes from the same calls the page shows; the numbers the page quotes are printed.
It takes about half a minute on two cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import optiscope
from optiscope.exercise import optimize_rosenbrock, plot_rosenbrock
from optiscope.plotting import save_figure

IMAGES = Path(__file__).resolve().parent / "images"
EXERCISE = "rosenbrock a=1 b=2"
CANONICAL_RACE = [
    "momentum lr=0.01 beta=0.9",
    "sgd lr=0.001",
    "sgd lr=0.001 momentum=0.9 nesterov=true",
    "adam lr=0.02 betas=0.9,0.99",
]
HIMMELBLAU_RACE = ["momentum lr=0.01 beta=0.9", "sgd lr=0.01", "adam lr=0.1", "rmsprop lr=0.01"]


def show(title: str, table: object) -> None:
    text = table.to_string() if hasattr(table, "to_string") else str(table)
    print(f"\n== {title}\n{text}")


def question_2() -> None:
    save_figure(plot_rosenbrock(), IMAGES / "q2-rosenbrock.png")

    result = optimize_rosenbrock(steps=500, lr=0.01, beta=0.9)
    result.save(IMAGES / "q2-momentum.png")
    show("optimize_rosenbrock(500, 0.01, 0.9)", result.frame.tail(3))
    for steps, lr, beta in [(2000, 0.01, 0.9), (500, 0.05, 0.9), (500, 0.01, 0.0)]:
        other = optimize_rosenbrock(steps=steps, lr=lr, beta=beta)
        print(f"steps={steps} lr={lr} beta={beta}: {other.final}, distance {other.distance:.3g}")

    race = optiscope.race(EXERCISE, steps=500)
    race.save(IMAGES / "q2-race-rosenbrock.png")
    show("race on the exercise's Rosenbrock", race.summary())

    canonical = optiscope.race("rosenbrock", CANONICAL_RACE, steps=2000)
    canonical.save(IMAGES / "q2-race-canonical.png")
    show("race on the canonical Rosenbrock", canonical.summary())
    identical = optiscope.race(
        "rosenbrock", ["momentum lr=0.01 beta=0.9", "sgd lr=0.001 momentum=0.9"], steps=2000
    )
    a, b = (np.array([t.x, t.y]) for t in identical.trajectories)
    print("momentum(lr, beta) vs SGD(lr (1 - beta), beta): largest difference", np.abs(a - b).max())

    himmelblau = optiscope.race("himmelblau", HIMMELBLAU_RACE, steps=300)
    himmelblau.save(IMAGES / "q2-race-himmelblau.png")
    himmelblau.to_gif(IMAGES / "race-himmelblau.gif", frames=40, dpi=64)
    show("race on Himmelblau", himmelblau.summary())

    grid = {"lr": np.geomspace(1e-3, 1, 64), "beta": np.linspace(0, 0.99, 64)}
    heat = optiscope.sensitivity_map(EXERCISE, "momentum", grid, steps=1000)
    heat.save(IMAGES / "q2-heatmap.png")
    frame = heat.frame
    reached = frame.dropna(subset=["reached_step"]).sort_values("reached_step")
    show(repr(heat), reached.head(3)[["lr", "beta", "reached_step"]])
    for beta in (0.0, 0.9):
        row = frame[np.isclose(frame["beta"], grid["beta"][np.abs(grid["beta"] - beta).argmin()])]
        best = row.dropna(subset=["reached_step"]).sort_values("reached_step").head(1)
        print(
            f"beta ~ {beta}: fastest {best[['lr', 'reached_step']].to_dict('records')}, "
            f"largest lr that does not diverge {row.loc[row.status == 'done', 'lr'].max():.3g}"
        )


def question_3() -> None:
    bias = optiscope.weight_decay_bias(EXERCISE, [0, 0.001, 0.01, 0.03, 0.1, 0.3])
    bias.save(IMAGES / "q3-weight-decay.png")
    show("momentum, decoupled decay", bias.frame)

    l2 = optiscope.weight_decay_bias(EXERCISE, [0.01, 0.1], decay="l2")
    show("momentum, L2 decay", l2.frame)

    adamw = optiscope.weight_decay_bias(
        EXERCISE, [0, 0.01, 0.1], optimizer="adam lr=0.01", decay="decoupled", steps=5000
    )
    adamw.save(IMAGES / "q3-adamw.png")
    show("Adam with decoupled decay (AdamW)", adamw.frame)
    for steps in (500, 2000, 5000, 20000):
        longer = optiscope.weight_decay_bias(
            EXERCISE, [0, 0.1], optimizer="adam lr=0.01", decay="decoupled", steps=steps
        )
        print(steps, longer.frame["final_distance"].round(6).tolist())


if __name__ == "__main__":
    IMAGES.mkdir(exist_ok=True)
    question_2()
    question_3()
