"""The ``optiscope`` command line. Nothing in the package imports it."""

from optiscope.cli._main import cli, main

__all__ = ["cli", "main"]
