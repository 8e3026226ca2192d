"""The embedded Postgres run by root: its files outside the checkout, linked from it; a data
folder whose link is gone is deleted, so removing `.taskrow/` starts afresh."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

import queue_core
from taskrow.embedded import SERVICE_ROOT, EmbeddedPostgres

pytestmark = [
    pytest.mark.slow,  # starts embedded Postgres servers
    pytest.mark.skipif(os.geteuid() != 0, reason="only root relocates the server"),
]


def _databases(url: str) -> set[str]:
    engine = sa.create_engine(queue_core.engine_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    finally:
        engine.dispose()


def _mark(url: str) -> None:
    engine = sa.create_engine(queue_core.engine_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE marker"))
    finally:
        engine.dispose()


def test_removing_the_link_starts_afresh_and_deletes_the_old_data(tmp_path: Path) -> None:
    link = tmp_path / ".taskrow/postgres"
    first = EmbeddedPostgres(link)
    try:
        url = first.start()
        assert link.is_symlink() and first.relocated
        assert first.data_dir.is_relative_to(SERVICE_ROOT / "data")
        assert first.data_dir.stat().st_mode & 0o777 == 0o700
        assert (tmp_path.stat().st_mode & 0o777) == 0o700  # pytest's folder stays closed
        _mark(url)
        first.stop()
        old = first.data_dir
        link.unlink()  # as `rm -rf .taskrow` or `make clean` does
        second = EmbeddedPostgres(link)
        assert second.data_dir == old  # the same name for the same path ...
        url = second.start()
        assert link.is_symlink() and link.resolve() == old
        assert "marker" not in _databases(url)  # ... but a new, empty server
        second.remove()
        assert not link.exists() and not link.is_symlink() and not old.parent.exists()
    finally:
        first.remove()
