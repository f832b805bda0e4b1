"""The course exercise's functions under their own names.

Question 1: ``compare_configs(epochs=30, lr=[0.1, 0.2], weight_decay=0.02)`` works as written.
Question 2: ``optimize_rosenbrock(steps=500, lr=0.01, beta=0.9)`` runs the exercise's
``optim_step`` (momentum from scratch) on its Rosenbrock function.
"""

from optiscope.api import compare_configs
from optiscope.exercise._landscape import (
    EXERCISE_DOMAIN,
    EXERCISE_START,
    optim_step,
    optimize_rosenbrock,
    plot_rosenbrock,
    rosenbrock,
)

__all__ = [
    "EXERCISE_DOMAIN",
    "EXERCISE_START",
    "compare_configs",
    "optim_step",
    "optimize_rosenbrock",
    "plot_rosenbrock",
    "rosenbrock",
]
