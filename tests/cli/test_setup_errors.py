"""Setting-up mistakes get one line and a non-zero exit, never a traceback: a too-short
dashboard secret for `taskrow api`, an unknown migration revision, an unasked-for downgrade."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import queue_core
from queue_core import migrations
from taskrow.embedded import free_port

from .conftest import Cli, base_env


def _revision(url: str) -> str | None:
    engine = queue_core.create_engine(url)
    try:
        return migrations.current_revision(engine)
    finally:
        engine.dispose()


def test_a_too_short_secret_key_is_refused_before_gunicorn_starts(db_url: str) -> None:
    cli = Cli({**base_env(), "TASKROW_DATABASE_URL": db_url, "TASKROW_SECRET_KEY": "x" * 31})
    result = cli.run("api", "--bind", f"127.0.0.1:{free_port()}")
    message = result.error(2)
    assert "TASKROW_SECRET_KEY: must be at least 32 characters, not 31" in message
    assert "secrets.token_urlsafe" in message


def test_an_unknown_revision_is_one_line(empty_db_url: str) -> None:
    cli = Cli({**base_env(), "TASKROW_DATABASE_URL": empty_db_url})
    run, dry = cli.run_all(
        [["migrate", "--revision", "bogus"], ["migrate", "--sql", "--revision", "9"]]
    )
    assert "unknown revision 'bogus': the revisions are 0001, 0002" in run.error()
    assert "unknown revision '9'" in dry.error()
    assert _revision(empty_db_url) is None  # nothing was created


@pytest.mark.slow  # several taskrow commands, about 5 s
def test_an_older_revision_is_a_downgrade_refused_unless_asked(db_url: str) -> None:
    cli = Cli({**base_env(), "TASKROW_DATABASE_URL": db_url})
    head = migrations.head_revision()
    refused = cli.run("migrate", "--revision", "0001").error()
    assert f"is at revision {head}; 0001 is older, so this is a downgrade" in refused
    assert "taskrow migrate --revision 0001 --downgrade" in refused
    assert _revision(db_url) == head
    done = cli.run("migrate", "--revision", "0001", "--downgrade").ok()
    assert done == f"schema taskrow is at revision 0001 (was {head})\n"
    assert _revision(db_url) == "0001"
    engine = sa.create_engine(queue_core.engine_url(db_url))
    try:
        assert "api_keys" not in sa.inspect(engine).get_table_names(schema="taskrow")
    finally:
        engine.dispose()
    wrong_way = cli.run("migrate", "--downgrade").error()
    assert "is not older; nothing was changed" in wrong_way
    assert cli.run("migrate").ok() == f"schema taskrow is at revision {head} (was 0001)\n"
    assert cli.run("migrate").ok() == f"schema taskrow is at revision {head} (it already was)\n"
