"""Models: the exercise's MLP family."""

from optiscope.models._mlp import ACTIVATIONS, build_mlp, validate_architecture

__all__ = ["ACTIVATIONS", "build_mlp", "validate_architecture"]
