"""Models: the exercise's MLP family, and K of them stacked for vectorized training."""

from optiscope.models._mlp import ACTIVATIONS, build_mlp, validate_architecture
from optiscope.models._stacked import (
    ALIGN,
    StackedLayout,
    aligned_row,
    stack_mlps,
    unstack_mlp,
)

__all__ = [
    "ACTIVATIONS",
    "ALIGN",
    "StackedLayout",
    "aligned_row",
    "build_mlp",
    "stack_mlps",
    "unstack_mlp",
    "validate_architecture",
]
