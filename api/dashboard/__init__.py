"""The web dashboard at ``/dashboard``: queues, dead tasks, one task; retry and cancel.

Server-rendered (Jinja, autoescaped), with a few lines of inline script for auto-refresh. A
browser logs in by pasting an API key with the ``manage`` scope; the session cookie it gets
holds only the key's id and a CSRF token, signed with ``TASKROW_SECRET_KEY`` (see
:mod:`api.dashboard.session`). Every page shows the logged-in key's tenant alone; an operator
key sees only the Tenants page (every tenant's counts, no task).

Errors are HTML pages, never a traceback::

    DashboardError          a page with a status and a plain explanation (400, 403, 404, 503)
      CsrfFailed            400: a form without this session's token; nothing was changed
    LoginRequired           no live manage key behind the cookie: redirect to the login form
    queue_core errors       TaskNotFound 404, InvalidTransition 409, InvalidTaskError 400,
                            DatabaseError 503 (the page says the outcome may be unknown)
    HTTPException           werkzeug's own status, as a page
    anything else           logged with its traceback, a 500 page
"""

from __future__ import annotations

from . import actions, tenants, views
from .blueprint import blueprint

__all__ = ["actions", "blueprint", "tenants", "views"]
