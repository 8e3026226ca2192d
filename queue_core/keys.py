"""API keys: who may call the HTTP API, for which tenant, with which scopes and queues.

A key is shown once, when it is created: ``trk_<key id>_<secret>``. The key id is public (it
names the key in listings and when revoking it); of the secret only its SHA-256 digest is
stored. The secret is 32 random bytes, so a plain digest (no slow password hash) is enough:
guessing is hopeless and a leaked table reveals no usable key. :func:`authenticate` finds the
row by key id and compares digests in constant time.

Errors: :class:`InvalidTaskError` for bad input (a scope, a queue, an unknown key id when
revoking) and :class:`DatabaseError` from the driver, as everywhere in queue_core.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from . import sql, validation
from .db import Executor, run, run_direct
from .errors import InvalidTaskError
from .models import ADMIN_SCOPE as ADMIN_SCOPE
from .models import SCOPES as SCOPES
from .schema import DEFAULT_SCHEMA

KEY_PREFIX = "trk"
_TOKEN_PATTERN = re.compile(r"trk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
# What names a key when revoking it: its id, or a token (whole or cut short) starting with it.
_KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
_TOKEN_PREFIX_PATTERN = re.compile(r"trk_([0-9a-f]{16})(?:_.*)?", re.DOTALL)
# Compared against when the key id is unknown, so both paths hash and compare once.
_DUMMY_DIGEST = hashlib.sha256(b"no such key").hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """One key as stored, without its secret. ``queues`` None means every queue. ``tenant``
    None: an operator key (its only scope is ``admin``)."""

    id: str
    tenant: str | None
    name: str | None
    scopes: tuple[str, ...]
    queues: tuple[str, ...] | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        return cls(
            id=row.id,
            tenant=row.tenant,
            name=row.name,
            scopes=tuple(row.scopes),
            queues=None if row.queues is None else tuple(row.queues),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )

    @property
    def operator(self) -> bool:
        return self.tenant is None


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and its token: the only moment the token is known."""

    key: ApiKey
    token: str


def create_key(
    executor: Executor,
    *,
    tenant: str = "default",
    scopes: Iterable[str] = SCOPES,
    queues: Iterable[str] | None = None,
    name: str | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> CreatedKey:
    """Store a new key in the caller's transaction; the returned token exists once it commits.
    A tenant's key: its scopes are among ``SCOPES`` (see :func:`create_operator_key`)."""
    return _insert(
        executor,
        validation.queue_name(tenant, "tenant"),
        _scopes(scopes),
        None if queues is None else _queues(queues),
        name,
        schema,
    )


def _insert(
    executor: Executor,
    tenant: str | None,
    scopes: list[str],
    queues: list[str] | None,
    name: str | None,
    schema: str,
) -> CreatedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    params = {
        "id": key_id,
        "tenant": tenant,
        "name": None if name is None else validation.text(name, "name", max_length=200),
        "secret_hash": _digest(secret),
        "scopes": scopes,
        "queues": queues,
    }
    row = run(executor, sql.for_schema(schema).key_create, params).one()
    return CreatedKey(ApiKey.from_row(row), f"{KEY_PREFIX}_{key_id}_{secret}")


def create_operator_key(
    executor: Executor, *, name: str | None = None, schema: str = DEFAULT_SCHEMA
) -> CreatedKey:
    """Store a new operator key: no tenant, the ``admin`` scope alone. It may read the
    cross-tenant surfaces (``/metrics``) and nothing of any tenant's own routes."""
    return _insert(executor, None, [ADMIN_SCOPE], None, name, schema)


def authenticate(executor: Executor, token: str, *, schema: str = DEFAULT_SCHEMA) -> ApiKey | None:
    """The live key a token belongs to, or None (malformed, unknown, revoked or wrong secret)."""
    match = _TOKEN_PATTERN.fullmatch(token)
    if match is None:
        return None
    key_id, secret = match.groups()
    rows = run_direct(executor, sql.for_schema(schema).key_live, {"key_id": key_id}).rows
    row = rows[0] if rows else None
    stored = _DUMMY_DIGEST if row is None else str(row.secret_hash)
    if not hmac.compare_digest(stored, _digest(secret)) or row is None:
        return None
    return ApiKey.from_row(row)


def list_keys(
    executor: Executor,
    *,
    tenant: str | None = None,
    include_revoked: bool = False,
    schema: str = DEFAULT_SCHEMA,
) -> list[ApiKey]:
    """Keys oldest first, of one tenant or (None) of all (operator keys included)."""
    params = {"tenant": tenant, "include_revoked": include_revoked}
    return [ApiKey.from_row(r) for r in run(executor, sql.for_schema(schema).key_list, params)]


def revoke_key(executor: Executor, key_id: str, *, schema: str = DEFAULT_SCHEMA) -> ApiKey:
    """Revoke a key (at once, for every process), named by its id or by its whole token.

    Raises InvalidTaskError for an unknown id or for anything else; no message ever repeats
    the input beyond a key id, so a secret pasted here never reaches a terminal or a log.
    """
    found = key_id_of(key_id)
    row = run(executor, sql.for_schema(schema).key_revoke, {"id": found}).first()
    if row is None:
        raise InvalidTaskError("key_id", f"no API key {found!r}")
    return ApiKey.from_row(row)


def key_id_of(reference: str) -> str:
    """The key id in ``reference``: a key id, or a token (``trk_<key id>_<secret>``)."""
    value = str(reference).strip()
    if _KEY_ID_PATTERN.fullmatch(value):
        return value
    match = _TOKEN_PREFIX_PATTERN.fullmatch(value)
    if match is None:
        raise InvalidTaskError(
            "key_id", "give a key id (16 hex digits, see `taskrow keys list`) or the key itself"
        )
    return match.group(1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _scopes(scopes: Iterable[str]) -> list[str]:
    chosen = set(scopes)
    if not chosen or not chosen <= set(SCOPES):
        raise InvalidTaskError("scopes", f"give one or more of {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in chosen]


def _queues(queues: Iterable[str]) -> list[str]:
    chosen = sorted({validation.queue_name(q, "queues") for q in queues})
    if not chosen:
        raise InvalidTaskError("queues", "give at least one queue, or none to allow all")
    return chosen
