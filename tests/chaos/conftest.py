"""Fixtures of the chaos suite: a private Postgres per module (the tests stop and crash it) and
a cluster per scenario, whose processes are all killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskrow.embedded import EmbeddedPostgres

from ..support import embedded_server
from .cluster import Cluster
from .scenarios import REPORTS


@pytest.fixture(scope="module")
def chaos_pg() -> Iterator[EmbeddedPostgres]:
    """Its own folder outside pytest's temporary tree: pytest may close that tree's modes
    (another session starting), which would lock the server's service user out of it."""
    with embedded_server("taskrow-chaos-pg-") as server:
        yield server


@pytest.fixture
def cluster(chaos_pg: EmbeddedPostgres, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(chaos_pg, tmp_path, lease=2.0)
    try:
        made.create()
        yield made
    finally:
        made.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("chaos summary tables")
        for table in REPORTS:
            terminalreporter.write_line(table)
            terminalreporter.write_line("")
