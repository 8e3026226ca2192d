"""Database URLs naming several hosts: libpq's ``h1:p1,h2:p2`` and SQLAlchemy's repeated
``?host=``, on a real Postgres; ``target_session_attrs=read-write`` skips a server that refuses
writes (as a standby does), on the engine and on the LISTEN connection; bad URLs are refused
up front with a message that names the fault and never the password."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import queue_core
from queue_core import InvalidTaskError, Listener, migrations, urls
from taskrow.embedded import EmbeddedPostgres

from ..support import embedded_server, wait_for


def dead_port() -> int:
    """A loopback port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hosts_url(db_url: str, ports: list[int], *, query: str = "") -> str:
    """libpq's form: ``postgresql://user@127.0.0.1:p1,127.0.0.1:p2/db``."""
    parsed = sa.make_url(db_url)
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return f"postgresql://{parsed.username}@{hosts}/{parsed.database}{query}"


def host_params_url(db_url: str, ports: list[int], *, query: str = "") -> str:
    """SQLAlchemy's form: ``postgresql://user@/db?host=127.0.0.1:p1&host=127.0.0.1:p2``."""
    parsed = sa.make_url(db_url)
    hosts = "&".join(f"host=127.0.0.1:{port}" for port in ports)
    return f"postgresql://{parsed.username}@/{parsed.database}?{hosts}{query}"


def served_by(url: str) -> tuple[int, int]:
    """(server port, task count) as seen through an engine on ``url``, after one enqueue."""
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with queue_core.transaction(engine) as conn:
            queue_core.enqueue(conn, "multihost")
            port = conn.execute(sa.text("SELECT current_setting('port')::int")).scalar_one()
            count = conn.execute(sa.text("SELECT count(*) FROM taskrow.tasks")).scalar_one()
        return int(port), int(count)
    finally:
        engine.dispose()


@pytest.mark.parametrize("form", [hosts_url, host_params_url])
def test_a_dead_host_first_and_the_live_one_second(db_url: str, form: object) -> None:
    live = sa.make_url(db_url).port
    assert live is not None and callable(form)
    url = form(db_url, [dead_port(), live])
    assert served_by(url) == (live, 1)


def test_the_libpq_form_becomes_one_host_list_every_client_reads() -> None:
    given = "postgresql://postgres:s%40cret@10.0.0.1:5601,10.0.0.2:5602/app?target_session_attrs=read-write"
    parsed = queue_core.engine_url(given)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.username, parsed.password, parsed.database) == ("postgres", "s@cret", "app")
    assert dict(parsed.query) == {
        "host": "10.0.0.1,10.0.0.2",
        "port": "5601,5602",
        "target_session_attrs": "read-write",
    }
    sqlalchemy_form = "postgresql://postgres:s%40cret@/app?host=10.0.0.1:5601&host=10.0.0.2:5602"
    assert queue_core.engine_url(sqlalchemy_form + "&target_session_attrs=read-write") == parsed
    conninfo = urls.libpq_conninfo(given)
    assert "host=10.0.0.1,10.0.0.2" in conninfo and "port=5601,5602" in conninfo
    assert "target_session_attrs=read-write" in conninfo
    single = "postgresql://u@db.example:6543/x"  # one host: left as it was
    assert queue_core.engine_url(single).render_as_string() == single.replace(
        "postgresql:", "postgresql+psycopg:"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:hunter2@h1:5432,h2:54x/db", "bad port '54x' for host 2 (h2)"),
        ("postgresql://u:hunter2@h1:99999/db", "bad port '99999' for host 1 (h1)"),
        ("postgresql://u:hunter2@h1,,h3/db", "host 2 of the host list is empty"),
        ("postgresql://u:hunter2@/db?host=h1:1&host=h2:x", "non-integer port"),
        ("postgresql://u:hunter2@/db?host=h1,h2&port=1,2,3", "number of hosts and ports"),
        ("postgresql://u:hunter2@h1,h2/db?host=h3", "either before the database or in ?host="),
        ("postgresql://u:hunter2@h/db?target_session_attrs=rw", "target_session_attrs must be"),
        ("mysql://u:hunter2@h/db", "not a PostgreSQL URL (scheme 'mysql')"),
        ("u:hunter2@h/db", "not a URL"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_fault_not_the_password(
    url: str, message: str
) -> None:
    with pytest.raises(InvalidTaskError) as refused:
        queue_core.create_engine(url)
    assert refused.value.field == "database_url"
    assert message in refused.value.reason
    assert "hunter2" not in str(refused.value)


# -- target_session_attrs=read-write on a server that refuses writes --------------------------


@pytest.fixture(scope="module")
def read_only_server(pg_server: object) -> Iterator[EmbeddedPostgres]:
    """A second server whose sessions are all read-only, as a hot standby's are (libpq sees
    ``default_transaction_read_only=on`` at connection and a read-write request skips it)."""
    with embedded_server("taskrow-readonly-pg-") as server:
        yield server


@pytest.fixture
def read_only_twin(read_only_server: EmbeddedPostgres, db_url: str) -> Iterator[int]:
    """The test database, migrated, on the read-only server too; yields that server's port."""
    name = sa.make_url(db_url).database
    admin = sa.create_engine(
        queue_core.engine_url(read_only_server.url), isolation_level="AUTOCOMMIT"
    )
    twin = sa.make_url(read_only_server.url).set(database=name)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = queue_core.create_engine(twin.render_as_string(hide_password=False))
        migrations.upgrade(engine)
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield read_only_server.port
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_read_write_skips_a_read_only_server_named_first(db_url: str, read_only_twin: int) -> None:
    live = sa.make_url(db_url).port
    assert live is not None
    ports = [read_only_twin, live]
    assert served_by(hosts_url(db_url, ports, query="?target_session_attrs=read-write")) == (
        live,
        1,
    )
    with pytest.raises(queue_core.DatabaseError, match="read-only transaction"):
        served_by(hosts_url(db_url, ports))  # without it: the first server, which refuses


def test_the_listener_honours_read_write_too(db_url: str, read_only_twin: int) -> None:
    live = sa.make_url(db_url).port
    assert live is not None
    url = hosts_url(db_url, [read_only_twin, live], query="?target_session_attrs=read-write")
    listener = Listener(url)
    engine = queue_core.create_engine(db_url, pool_size=1)
    try:
        wait_for(lambda: listener.wait(0.05) == [] and listener.connections, what="the listener")
        heard: list[str] = []

        def hears_an_enqueue() -> bool:
            with engine.begin() as conn:
                queue_core.enqueue(conn, "wake", queue="ha")
            heard.extend(listener.wait(0.5))
            return "ha" in heard

        wait_for(hears_an_enqueue, timeout=10, what="a notification from the writable server")
    finally:
        listener.close()
        engine.dispose()
