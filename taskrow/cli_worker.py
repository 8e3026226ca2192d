"""CLI commands of the worker (`taskrow worker`)."""

from __future__ import annotations

import click

commands: list[click.Command] = []
