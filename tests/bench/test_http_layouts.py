"""enqueue-http's server layouts: gunicorn's gthread and sync workers, granian's threads."""

from __future__ import annotations

import pytest

from taskrow.bench.http import ServerLayout


def test_layouts_name_their_server() -> None:
    assert ServerLayout.parse("2x16") == ServerLayout(2, 16, "gunicorn")
    assert ServerLayout.parse("4xsync") == ServerLayout(4, 0, "gunicorn")
    assert ServerLayout.parse("granian:2x8") == ServerLayout(2, 8, "granian")
    assert [str(ServerLayout.parse(t)) for t in ("2x16", "4xsync", "granian:2x8")] == [
        "2x16",
        "4xsync",
        "granian:2x8",
    ]


def test_each_worker_holds_its_share_of_the_connections() -> None:
    layout = ServerLayout.parse("granian:3x4")
    assert layout.connections_per_worker(16) == 6  # 3 x 6 >= 16
    assert "--worker-connections" in ServerLayout.parse("2x8").gunicorn_options(16)


@pytest.mark.parametrize("text", ["granian:2xsync", "uwsgi:2x8", "two", "0x4"])
def test_bad_layouts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="layout"):
        ServerLayout.parse(text)
