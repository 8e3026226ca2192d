"""The operator's page: every tenant's queues and counts, for an operator key alone.

Counts only: an operator key sees no task of any tenant (no args, results, errors), and every
other dashboard page refuses it (see :mod:`api.dashboard.guard`).
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from queue_core import dashboard_queries

from ..state import transaction
from . import guard, overview
from .blueprint import blueprint
from .pages import page

REFRESH_SECONDS = 5


@blueprint.get("/tenants")
def tenants() -> Response:
    viewer = guard.operator()
    with transaction() as conn:
        rows = dashboard_queries.tenant_counts(conn, schema=guard.settings().schema)
    return page(
        "tenants.html",
        operator=viewer,
        rows=rows,
        states=overview.STATES,
        refresh=REFRESH_SECONDS,
    )
