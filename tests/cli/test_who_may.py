"""docs/api.md states, for every `taskrow` command, who may run it and what it sees: a new
command without a row in that table fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click

from taskrow.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def commands() -> set[str]:
    ctx = click.Context(main)
    found: set[str] = set()

    def walk(group: click.Group, prefix: str) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                walk(command, f"{prefix}{name} ")
            elif command is not None:
                found.add(prefix + name)

    walk(main, "")
    return found


def documented() -> set[str]:
    """Commands named in the first cell of the table's rows: `taskrow keys create`, then
    `keys list` (a group's other subcommands), or `taskrow status`, `watch` (top level)."""
    text = DOC.read_text()
    section = text[text.index("| command | needs |") :]
    section = section[: section.index("\n\n")]
    names: set[str] = set()
    for row in section.splitlines()[2:]:
        group = ""
        for code in re.findall(r"`([^`]+)`", row.split("|")[1]):
            words = code.removeprefix("taskrow ").split()
            if len(words) == 2:
                group = words[0]
            names.add(" ".join(words) if len(words) == 2 or not group else f"{group} {code}")
    return names


def test_every_command_has_a_row_in_the_who_may_table() -> None:
    missing = commands() - documented()
    assert missing == set(), f"commands without a row in docs/api.md: {sorted(missing)}"
