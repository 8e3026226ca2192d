"""Database URLs: one host, or several for a highly available cluster, checked up front.

Three spellings of "these servers, in this order" are accepted:

- libpq's own: ``postgresql://user@h1:5432,h2:5432/db?target_session_attrs=read-write``;
- SQLAlchemy's repeated parameter: ``postgresql://user@/db?host=h1:5432&host=h2:5432``;
- libpq's parameter lists: ``postgresql://user@/db?host=h1,h2&port=5432,5432``.

The first two are rewritten to the last (SQLAlchemy's URL parser takes one host only, and libpq
reads the last form too, so the URL also suits psql or pgbench); psycopg then
hands libpq every host, which tries them in turn, and ``target_session_attrs=read-write`` makes
it skip a server that is a standby (or read-only). A malformed URL raises
:class:`~queue_core.errors.InvalidTaskError` (field ``database_url``) naming the fault, never the
password.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from psycopg.conninfo import make_conninfo
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg

from .errors import InvalidTaskError

FIELD = "database_url"
SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")
#: The values libpq (14 and later) accepts for ``target_session_attrs``.
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")

_DIALECT = sa_psycopg.dialect()  # type: ignore[no-untyped-call]


def parse_url(url: str) -> sa.URL:
    """The URL on the psycopg 3 driver, its hosts in ``host``/``port`` parameters if several."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidTaskError(FIELD, "not a URL: expected postgresql://user@host:port/database")
    if scheme not in SCHEMES:
        raise InvalidTaskError(FIELD, f"not a PostgreSQL URL (scheme {scheme!r})")
    split = _split_hosts(scheme, rest)
    try:
        parsed = sa.make_url(split[0])
    except (ValueError, sa_exc.ArgumentError) as exc:
        raise InvalidTaskError(FIELD, f"cannot parse the URL: {_hostless(exc)}") from None
    if split[1] is not None:
        if "host" in parsed.query or "port" in parsed.query:
            raise InvalidTaskError(
                FIELD, "name the hosts either before the database or in ?host=, not both"
            )
        ports = {"port": split[2]} if split[2] and split[2].strip(",") else {}
        parsed = parsed.update_query_dict({"host": split[1], **ports})
    parsed = parsed.set(drivername="postgresql+psycopg")
    _check(parsed)
    return _listed(parsed)


def connect_kwargs(url: str | sa.URL) -> dict[str, Any]:
    """What psycopg's ``connect()`` gets for ``url``: host and port as comma-separated lists."""
    parsed = parse_url(url) if isinstance(url, str) else url
    try:
        _, kwargs = _DIALECT.create_connect_args(parsed)  # type: ignore[no-untyped-call]
    except sa_exc.ArgumentError as exc:
        raise InvalidTaskError(FIELD, str(exc)) from None
    return {k: v for k, v in kwargs.items() if isinstance(v, (str, int))}


def libpq_conninfo(url: str | sa.URL) -> str:
    """The URL as a libpq connection string (every host kept), for psycopg or libpq tools."""
    return make_conninfo(**{k: str(v) for k, v in connect_kwargs(url).items()})


def _split_hosts(scheme: str, rest: str) -> tuple[str, str | None, str | None]:
    """``(url, hosts, ports)``: the URL without its host list when it names several hosts
    before the database (libpq's form), with those hosts and ports comma-separated."""
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hostlist = netloc.rpartition("@")
    if "," not in hostlist:
        if hostlist:
            _host_port(hostlist, 1)
        return f"{scheme}://{rest}", None, None
    pairs = [_host_port(item, n) for n, item in enumerate(hostlist.split(","), 1)]
    hosts, ports = ",".join(h for h, _ in pairs), ",".join(p for _, p in pairs)
    return f"{scheme}://{userinfo}{at}{tail or '/'}", hosts, ports


def _host_port(item: str, n: int) -> tuple[str, str]:
    """One ``host[:port]`` of a host list (an IPv6 address in brackets)."""
    if item.startswith("["):
        host, bracket, after = item[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise InvalidTaskError(FIELD, f"host {n} is not [address] or [address]:port")
        port = after[1:]
    else:
        host, _, port = item.partition(":")
    if not host:
        raise InvalidTaskError(FIELD, f"host {n} of the host list is empty")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidTaskError(FIELD, f"bad port {port!r} for host {n} ({host})")
    return host, port


def _listed(parsed: sa.URL) -> sa.URL:
    """Hosts given as ``?host=h1:p1&host=h2:p2`` rewritten as ``?host=h1,h2&port=p1,p2``: one
    form for every client (libpq reads that one too, so the URL also suits psql or pgbench)."""
    if not isinstance(parsed.query.get("host"), tuple):
        return parsed
    kwargs = connect_kwargs(parsed)
    ports = {"port": str(kwargs["port"])} if str(kwargs.get("port", "")).strip(",") else {}
    return parsed.difference_update_query(["host", "port"]).update_query_dict(
        {"host": str(kwargs["host"]), **ports}
    )


def _check(parsed: sa.URL) -> None:
    """Refuse what would only fail at the first connection: bad ports, unknown attributes."""
    kwargs = connect_kwargs(parsed)
    for port in str(kwargs.get("port", "")).split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise InvalidTaskError(FIELD, f"bad port {port!r}")
    attrs = kwargs.get("target_session_attrs")
    if attrs is not None and attrs not in SESSION_ATTRS:
        raise InvalidTaskError(
            FIELD, f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}"
        )


def _hostless(exc: Exception) -> str:
    """The parser's complaint without the URL it quotes (which may hold a password)."""
    text = str(exc)
    return "not a valid URL" if "://" in text else text
