"""Bad and hostile input, missing or unreachable databases: one line on stderr, a non-zero exit,
no traceback, nothing written. Also: every command documents itself in --help."""

from __future__ import annotations

import socket

import click
import pytest

from taskrow import cli_ops

from .conftest import Cli, Seeder, base_env, collect


@pytest.mark.slow  # many taskrow commands, about 4 s
def test_bad_and_hostile_input_is_refused_and_writes_nothing(cli: Cli, seed: Seeder) -> None:
    before = seed.dead("q")
    cases: list[tuple[list[str | bytes], int, str]] = [
        (["enqueue", "job", "--args", "{bad"], 2, "Invalid value for '--args': not valid JSON"),
        (["enqueue", "job", "--args", '{"a": "\\u0000"}'], 1, "invalid args: contains a NUL"),
        (["enqueue", "job'; DROP TABLE taskrow.tasks; --"], 1, "invalid task:"),
        (["enqueue", "job", "--queue", b"q\xff\xfe"], 1, "invalid queue: 'q\\udcff\\udcfe'"),
        (["prune", "--older-than", "7"], 2, "'7' is not a duration"),  # not 7 seconds: refused
        (["ls", "--queue", "x' OR '1'='1"], 1, "invalid queue: \"x' OR '1'='1\""),
        (["retry", "--queue", "q'; DELETE FROM taskrow.tasks; --"], 1, "invalid queue:"),
        (["watch", "nope\n--json"], 1, "task nope\\n--json not found"),
    ]
    results = cli.run_all([args for args, _, _ in cases])
    for (args, code, message), result in zip(cases, results, strict=True):
        assert message in result.error(code), (args, result.stderr)
    assert seed.all() == [before], "nothing was written, changed or deleted"


def test_missing_or_unreachable_database_is_one_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = Cli({**base_env(), "TASKROW_DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/x"})
    missing, down = collect([Cli(base_env()).start("stats"), unreachable.start("enqueue", "job")])
    assert (
        missing.error()
        == "Error: no database configured: set TASKROW_DATABASE_URL (or DATABASE_URL)"
    )
    assert down.error().startswith("Error: database unavailable: ")


OPERATOR_COMMANDS = {"enqueue", "status", "watch", "ls", "stats", "cancel", "retry", "prune"}


def test_every_command_has_help_and_json() -> None:
    mine = [command for command in cli_ops.commands if command.name in OPERATOR_COMMANDS]
    assert {command.name for command in mine} == OPERATOR_COMMANDS
    for command in mine:
        assert command.help, command.name
        options = {
            opt for param in command.params if isinstance(param, click.Option) for opt in param.opts
        }
        assert "--json" in options, command.name


def test_help_through_the_console_script() -> None:
    group, watch = Cli(base_env()).run_all([["--help"], ["watch", "--help"]])
    listed = {
        line.split()[0] for line in group.ok().split("Commands:")[1].splitlines() if line.strip()
    }
    assert listed >= OPERATOR_COMMANDS
    text = watch.ok()
    assert text.startswith("Usage: taskrow watch [OPTIONS] ID")
    for code, meaning in [
        ("0", "succeeded"),
        ("3", "dead"),
        ("4", "cancelled"),
        ("5", "--timeout"),
    ]:
        assert any(line.split()[:1] == [code] and meaning in line for line in text.splitlines()), (
            code
        )
