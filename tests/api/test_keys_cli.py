"""`taskrow keys create|list|revoke`: the key works at once, only its id is ever listed, and
bad input is a one-line error with a non-zero exit."""

from __future__ import annotations

from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from taskrow.cli import main

from .conftest import bearer


def test_keys_cli_creates_lists_and_revokes(db_url: str, client: FlaskClient) -> None:
    runner = CliRunner()

    def taskrow(*args: str) -> Result:
        return runner.invoke(main, list(args), env={"TASKROW_DATABASE_URL": db_url})

    created = taskrow("keys", "create", "--tenant", "acme", "--scope", "read", "--name", "ci")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    key_id = token.split("_")[1]
    assert client.get("/v1/queues", headers=bearer(token)).status_code == 200
    assert client.post("/v1/tasks", json={"task": "t"}, headers=bearer(token)).status_code == 403
    listed = taskrow("keys", "list")
    [row] = [line.split() for line in listed.stdout.splitlines() if line.startswith(key_id)]
    assert row[:5] == [key_id, "acme", "read", "*", "ci"]
    assert token.split("_", 2)[2] not in listed.stdout
    assert taskrow("keys", "revoke", key_id).exit_code == 0
    assert client.get("/v1/queues", headers=bearer(token)).status_code == 401
    assert key_id not in taskrow("keys", "list").stdout
    assert key_id in taskrow("keys", "list", "--all").stdout
    for args in (("keys", "revoke", "nope"), ("keys", "create", "--queue", "Bad Queue")):
        failed = taskrow(*args)
        assert failed.exit_code != 0 and "Traceback" not in failed.output
        assert failed.output.strip().startswith("Error:") and len(failed.output.splitlines()) == 1
