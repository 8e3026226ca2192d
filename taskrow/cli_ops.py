"""CLI commands for operators over queue_core (enqueue, status, watch, ls, stats, ...)."""

from __future__ import annotations

import click

commands: list[click.Command] = []
