"""CLI commands of the HTTP API (`taskrow api`, `taskrow keys`)."""

from __future__ import annotations

import click

commands: list[click.Command] = []
