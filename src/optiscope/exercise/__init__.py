"""The course exercise's functions under their own names.

Question 1: ``compare_configs(epochs=30, lr=[0.1, 0.2], weight_decay=0.02)`` works as written.
"""

from optiscope.api._compare import compare_configs

__all__ = ["compare_configs"]
