"""Placeholder until its commands land."""

import click

COMMANDS: list[click.Command] = []
