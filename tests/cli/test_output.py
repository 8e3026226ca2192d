"""Output for people: plain, parseable text in a pipe; coloured states on a terminal, unless
NO_COLOR is set."""

from __future__ import annotations

import re

from .conftest import COLOUR, ESCAPE, TERMINAL_ENV, Cli, Seeder, plain

RED = "\x1b[31m"
BLUE = "\x1b[34m"


def test_piped_tables_are_plain_text_with_their_headings_and_values(cli: Cli, seed: Seeder) -> None:
    dead = seed.dead("beta")
    queued = seed.queued(queue="alpha")
    token = cli.run("keys", "create", "--tenant", "acme", "--name", "ci").stdout.strip()
    listed, counted, shown, keys = cli.run_all(
        [["ls"], ["stats"], ["status", str(dead.id)], ["keys", "list"]]
    )
    outputs = [listed.ok(), counted.ok(), shown.ok(), keys.ok()]
    for output in outputs:
        assert not ESCAPE.search(output) and "\r" not in output, output
        assert all(line == line.rstrip() for line in output.splitlines()), "no trailing blanks"

    rows = [line.split() for line in outputs[0].splitlines()]
    assert rows[0] == ["ID", "TASK", "QUEUE", "STATE", "ATTEMPT", "PROGRESS", "CREATED"]
    assert [row[:6] for row in rows[1:]] == [
        [str(queued.id), "job", "alpha", "queued", "0/3", "-"],
        [str(dead.id), "job", "beta", "dead", "1/1", "-"],
    ]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", " ".join(r[6:])) for r in rows[1:]
    )

    header, alpha, beta, warning = outputs[1].splitlines()
    assert header.split()[:6] == ["QUEUE", "QUEUED", "RUNNING", "SUCCEEDED", "DEAD", "CANCELLED"]
    assert beta.split() == ["beta", "0", "0", "0", "1", "0", "-", "0"]
    assert alpha.split()[:6] == ["alpha", "1", "0", "0", "0", "0"]
    assert warning.startswith("warning: queue alpha holds 1 queued task(s)")

    fields = dict(line.split(None, 1) for line in outputs[2].splitlines())
    assert (fields["state"], fields["error"]) == ("dead", "ValueError: boom")

    headings, key_row = (line.split() for line in outputs[3].splitlines())
    assert headings == ["ID", "TENANT", "SCOPES", "QUEUES", "NAME", "CREATED", "REVOKED"]
    assert key_row[:5] == [token[4:20], "acme", "enqueue,read,manage", "*", "ci"]
    assert key_row[-1] == "-"


def test_states_are_coloured_on_a_terminal_unless_no_color(cli: Cli, seed: Seeder) -> None:
    dead = seed.dead("beta")
    seed.queued(queue="alpha")
    forced = {**TERMINAL_ENV, "FORCE_COLOR": "1"}
    runner = Cli({**cli.env, **forced})
    bare = Cli({**cli.env, **forced, "NO_COLOR": "1"})
    coloured = runner.run_all([["ls"], ["stats"], ["status", str(dead.id)]])
    uncoloured = bare.run_all([["ls"], ["stats"], ["status", str(dead.id)]])
    ls, stats, status = (result.ok() for result in coloured)
    assert f"{RED}dead" in ls and f"{BLUE}queued" in ls
    assert re.search(r"\x1b\[31m\s*1\x1b\[0m", stats), "a queue's dead tasks are red"
    assert f"{RED}dead" in status and f"{RED}ValueError: boom" in status
    for result in uncoloured:
        assert not COLOUR.search(result.ok()), result.stdout
    for result, colours in [(uncoloured[0], ls), (uncoloured[2], status)]:
        assert plain(result.stdout).split() == plain(colours).split(), "the same text"

    on_a_pty = cli.terminal("ls")  # a real terminal, not a forced one
    code, output = on_a_pty.finish()
    assert code == 0 and f"{RED}dead" in output, output
    no_colour = cli.terminal("ls", NO_COLOR="1")
    code, output = no_colour.finish()
    assert code == 0 and not COLOUR.search(output) and "dead" in output, output
