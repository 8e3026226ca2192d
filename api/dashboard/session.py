"""The dashboard's session cookie: a signed value holding a key id and a CSRF token.

The cookie never holds an API key: only the key's public id, which the guard looks up on every
request (so revoking the key ends the session at once), and a random CSRF token that every
form echoes in a hidden field. It is signed with ``TASKROW_SECRET_KEY`` (itsdangerous, with a
timestamp) so it cannot be forged or extended; it is not encrypted (neither value is secret
from its holder). It is ``HttpOnly``, ``SameSite=Lax``, scoped to the dashboard's path, and
``Secure`` unless ``TASKROW_DASHBOARD_SECURE_COOKIE`` is off.

An anonymous session (no key id) exists only to protect the login form itself.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets

from flask import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from ..settings import ApiSettings

COOKIE_NAME = "taskrow_dashboard"
MAX_AGE_SECONDS = 12 * 60 * 60
CSRF_FIELD = "csrf_token"
_SALT = "taskrow.dashboard.session"


@dataclasses.dataclass(frozen=True)
class Session:
    """``key_id`` None: not logged in yet (the session only carries the login form's token)."""

    csrf: str
    key_id: str | None = None


def new_session(key_id: str | None = None) -> Session:
    """A session with a fresh CSRF token (a new one at login, so a pre-login token dies)."""
    return Session(csrf=secrets.token_urlsafe(32), key_id=key_id)


def load(request: Request, settings: ApiSettings) -> Session | None:
    """The session the request's cookie carries, or None (absent, forged, expired, malformed)."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:  # also SignatureExpired, its subclass
        return None
    return _from_data(data)


def save(response: Response, session: Session, settings: ApiSettings, path: str) -> None:
    value = _serializer(settings).dumps({"c": session.csrf, "k": session.key_id})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=MAX_AGE_SECONDS,
        path=path,
        secure=settings.dashboard_secure_cookie,
        httponly=True,
        samesite="Lax",
    )


def clear(response: Response, settings: ApiSettings, path: str) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path=path,
        secure=settings.dashboard_secure_cookie,
        httponly=True,
        samesite="Lax",
    )


def csrf_matches(session: Session | None, submitted: str | None) -> bool:
    """Whether a form's token is the session's, compared in constant time."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


def _serializer(settings: ApiSettings) -> URLSafeTimedSerializer:
    if not settings.secret_key:
        raise RuntimeError("the dashboard has no secret key")  # guarded before any use
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT)


def _from_data(data: object) -> Session | None:
    if not isinstance(data, dict):
        return None
    csrf, key_id = data.get("c"), data.get("k")
    if not isinstance(csrf, str) or not (key_id is None or isinstance(key_id, str)):
        return None
    return Session(csrf=csrf, key_id=key_id)
