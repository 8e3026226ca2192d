"""Who is calling: ``Authorization: Bearer <key>`` checked against queue_core's API keys.

Each view declares the scope it needs with :func:`require`; the result is a :class:`Principal`
(tenant, scopes, allowed queues). A missing or unknown key is 401, a missing scope 403. An
operator key (``taskrow keys create --admin``: no tenant, the ``admin`` scope alone) is an
:class:`Operator`: it may call the cross-tenant routes (:func:`require_operator`, ``/metrics``)
and is refused (403) by every tenant's route, while a tenant's key is refused by those. Keys
are looked up on every request, so a revoked key stops working at once; the enqueue routes
instead remember keys they verified (:mod:`api.keycache`) and let the INSERT itself check that
the key is still live, which keeps that promise without the lookup.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from flask import g, request
from sqlalchemy.engine import Connection

import queue_core
from queue_core.keys import SCOPES

from .problems import Problem
from .state import state, transaction

logger = logging.getLogger(__name__)

#: What a tenant's key may hold (queue_core's list): all of it when auth is off.
ALL_SCOPES = frozenset(SCOPES)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="taskrow"'}


@dataclasses.dataclass(frozen=True)
class Principal:
    """The caller. ``queues`` None means every queue of the tenant."""

    tenant: str
    scopes: frozenset[str]
    queues: frozenset[str] | None
    key_id: str | None

    @classmethod
    def of(
        cls,
        tenant: str,
        scopes: Iterable[str] = ALL_SCOPES,
        queues: Iterable[str] | None = None,
        key_id: str | None = None,
    ) -> Principal:
        """The one way a principal is made: a tenant's key (:func:`caller_of`), or the caller
        trusted with every scope and queue of the default tenant when auth is off."""
        return cls(tenant, frozenset(scopes), None if queues is None else frozenset(queues), key_id)

    def may_use(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


@dataclasses.dataclass(frozen=True)
class Operator:
    """An operator key: of no tenant; it sees every tenant's figures, no tenant's tasks."""

    key_id: str | None


OPERATOR_ONLY = "this route needs an operator key (`taskrow keys create --admin`)"
TENANTS_ONLY = "an operator key belongs to no tenant: it may call only /metrics"


def require_operator() -> Operator:
    """The authenticated operator (else 401, or 403 for a tenant's key). With auth off every
    caller is trusted, so the operator's routes are served to all, as everything else is."""
    if not state().settings.auth_enabled:
        return Operator(None)
    caller = _authenticate(None, False)
    if not isinstance(caller, Operator):
        logger.info("api.forbidden path=%s key_id=%s", request.path, caller.key_id)
        raise Problem(403, OPERATOR_ONLY)
    return caller


def require(scope: str, conn: Connection | None = None, *, remembered: bool = False) -> Principal:
    """The authenticated caller, who must hold ``scope`` (else 401 or 403). The key is looked
    up on ``conn`` (in the caller's transaction) when given, else in a short one of its own.

    ``remembered``: a key verified lately is taken from the state's ``verified_keys``;
    the caller must then have its write check ``key_id`` (and call :func:`revoked` if that
    check fails)."""
    principal = _authenticate(conn, remembered)
    if isinstance(principal, Operator):
        logger.info("api.forbidden path=%s key_id=%s", request.path, principal.key_id)
        raise Problem(403, TENANTS_ONLY)
    if scope not in principal.scopes:
        logger.info("api.forbidden path=%s key_id=%s", request.path, principal.key_id)
        raise Problem(403, f"this API key lacks the {scope!r} scope")
    g.taskrow_principal = principal
    return principal


def require_queue(principal: Principal, queue: object) -> None:
    """403 unless the key may use ``queue``; a value that is no queue name at all is left to
    queue_core's validation (422)."""
    if isinstance(queue, str) and not principal.may_use(queue):
        raise Problem(403, f"this API key may not use queue {queue!r}")


def revoked() -> Problem:
    """The 401 for a remembered key that the database found revoked (and it is forgotten)."""
    state().verified_keys.forget(_bearer_token())
    logger.info("api.auth_rejected path=%s", request.path)
    return Problem(401, "the API key is unknown or revoked", headers=_CHALLENGE)


def _authenticate(conn: Connection | None, remembered: bool) -> Principal | Operator:
    settings = state().settings
    if not settings.auth_enabled:
        return Principal.of(settings.default_tenant)
    token = _bearer_token()
    if remembered and isinstance(known := state().verified_keys.get(token), Principal | Operator):
        return known
    if conn is not None:
        key = queue_core.authenticate(conn, token, schema=settings.schema)
    else:
        with transaction() as own:
            key = queue_core.authenticate(own, token, schema=settings.schema)
    if key is None:
        logger.info("api.auth_rejected path=%s", request.path)
        raise Problem(401, "the API key is unknown or revoked", headers=_CHALLENGE)
    principal = caller_of(key)
    if remembered:
        state().verified_keys.put(token, principal)
    return principal


def caller_of(key: queue_core.ApiKey) -> Principal | Operator:
    """A stored key as the caller it makes."""
    if key.tenant is None:
        return Operator(key.id)
    return Principal.of(key.tenant, key.scopes, key.queues, key.id)


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "send an API key as 'Authorization: Bearer <key>'", headers=_CHALLENGE)
    return token.strip()
