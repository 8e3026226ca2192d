"""The SQL catalogue: every statement queue_core runs, written out once in this folder.

Each statement is a file, ``NAME.sql``, holding it whole; a file whose name starts with ``_``
is a fragment (a rule several statements share, such as where a failed attempt goes). A file
names its slots in braces: ``{schema}`` (a validated, quoted identifier, never user input), a
fragment by its name, or a variable part that its comment describes. :func:`for_schema` fills
the slots by formatting and nothing else: no statement is made by editing another's text.
Callers bind values (``:name``), never format them.

Lines starting with ``--`` are comments for readers and are not sent. What is sent, rendered
for the default schema, is committed in ``rendered/`` (tests/core/test_rendered_sql.py keeps it
current), so that a diff shows what actually runs.

Fencing: every statement that acts on a claimed task matches ``lease_token`` and
``state = 'running'``, so it matches no row once the lease was lost (expired and re-claimed,
released, or the task finished); the caller learns that from the rows it gets back.
Clock: every time is computed by the database (``now()``), never by a worker.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources

from sqlalchemy import TextClause, text

from ..models import Claimed
from ..schema import FINISHED_STATES_SQL, schema_name

#: The columns of an API key that callers read (queue_core.keys.ApiKey).
KEY_COLUMNS = "id, tenant, name, scopes, queues, created_at, revoked_at"


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The statements for one schema; each field is the file of the same name."""

    # tasks: enqueue and read
    enqueue: TextClause
    enqueue_ids: TextClause
    enqueue_quiet: TextClause
    enqueue_as_key: TextClause
    enqueue_copy_start: TextClause
    enqueue_copy: TextClause
    by_idempotency_keys: TextClause
    get: TextClause
    list: TextClause
    stats: TextClause
    now: TextClause
    # tasks: a worker's side
    claim: TextClause
    round: TextClause
    heartbeat: TextClause
    progress: TextClause
    complete: TextClause
    fail: TextClause
    release: TextClause
    adopt: TextClause
    # tasks: an operator's side
    cancel: TextClause
    redrive: TextClause
    redrive_queue: TextClause
    notify: TextClause
    prune: TextClause
    throughput: TextClause
    tenant_counts: TextClause
    # API keys
    key_create: TextClause
    key_live: TextClause
    key_is_live: TextClause
    key_list: TextClause
    key_revoke: TextClause
    # limits
    queue_depth: TextClause
    tenant_lock: TextClause
    tenant_depths: TextClause
    limit_set: TextClause
    limit_clear: TextClause
    limit_list: TextClause
    # workers
    worker_announce: TextClause
    worker_retire: TextClause
    queue_consumers: TextClause
    notify_queue_usage: TextClause


@functools.cache
def template(name: str) -> str:
    """The text of ``name.sql`` without its comment lines, slots unfilled."""
    source = resources.files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    return "".join(line for line in lines if not line.lstrip().startswith("--"))


def fill(name: str, slots: dict[str, str]) -> str:
    """``name.sql`` with its slots filled from ``slots`` (each slot it names must be there)."""
    return template(name).format_map(slots).strip()


def _statement(sql: str) -> TextClause:
    """A statement with its layout collapsed (no literal here holds a run of spaces): psycopg
    caches the parsing of statements up to 4 KiB long, and a worker's round fits only so."""
    return text(" ".join(sql.split()))


def _claimed_columns() -> str:
    """What a claim answers, column by column in the order of :class:`Claimed`'s fields (a
    claimed row is read by name), ``lease_expires_at`` being the row's ``run_at``."""
    renamed = {"lease_expires_at": "run_at AS lease_expires_at"}
    return ", ".join(renamed.get(name, name) for name in Claimed._fields)


@functools.cache
def for_schema(schema: str) -> Catalogue:
    """Every statement, for ``schema``."""
    slots = {
        "schema": '"' + schema_name(schema) + '"',
        "finished": FINISHED_STATES_SQL,
        "key_columns": KEY_COLUMNS,
        "claimed": _claimed_columns(),
        "commit_mode": "",
        "exclude_expired": "",
        "key_guard": "",
    }
    for fragment in ("_durable_and_notify", "_live_key", "_requeued", "_spent", "_redriven"):
        slots[fragment.lstrip("_")] = fill(fragment, slots)
    slots["claim"] = fill("_claim", slots)
    # a worker's round: its parts set no commit mode (the round sets it once) and its claim
    # keeps the tasks being recorded out of the scan of expired leases
    in_round = {
        **slots,
        "claim": fill("_claim", {**slots, "exclude_expired": "AND id <> ALL((:busy)::uuid[])"}),
    }
    in_round["complete"] = fill("complete", in_round)
    in_round["fail"] = fill("fail", in_round)
    committing = {**slots, "commit_mode": fill("_commit_mode", slots)}
    as_key = {**slots, "key_guard": "WHERE EXISTS (SELECT 1 " + slots["live_key"] + ")"}

    def enqueue(returning: str, variant: dict[str, str] = slots) -> TextClause:
        return _statement(fill("enqueue", {**variant, "returning": returning}))

    plain = {
        field.name: _statement(fill(field.name, slots))
        for field in dataclasses.fields(Catalogue)
        if field.name not in _SPECIAL
    }
    return Catalogue(
        **plain,
        enqueue=enqueue("RETURNING t.*"),
        enqueue_ids=enqueue("RETURNING t.id"),
        enqueue_quiet=enqueue(""),
        enqueue_as_key=enqueue("RETURNING t.*", as_key),
        round=_statement(fill("round", in_round)),
        complete=_statement(fill("complete", committing)),
        fail=_statement(fill("fail", committing)),
    )


_SPECIAL = frozenset(
    {"enqueue", "enqueue_ids", "enqueue_quiet", "enqueue_as_key", "round", "complete", "fail"}
)
