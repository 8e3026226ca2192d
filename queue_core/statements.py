"""Every SQL statement that reads or changes tasks, each with its intent and invariants.

Statements are plain SQL (psycopg binds through SQLAlchemy ``text``) built once per schema; the
schema name is a validated identifier, never user input. Callers bind values, never format them.

Fencing: every statement that acts on a claimed task matches ``lease_token`` and
``state = 'running'``, so it matches no row once the lease was lost (expired and re-claimed,
released, or the task finished); the caller learns that from the rows it gets back.
Clock: every time is computed by the database (``now()``), never by a worker.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from sqlalchemy import TextClause, text

from .schema import schema_name

# Durable enqueue: whatever the session's default, this transaction's commit waits for its WAL
# to reach disk. pg_notify wakes listening workers at commit; Postgres folds identical
# notifications of one transaction into one. :queues holds each queue of the batch once.
_DURABLE_AND_NOTIFY = """
    SELECT set_config('synchronous_commit', 'on', true) AS durable,
           count(pg_notify(:channel, q)) AS notified
    FROM unnest(CAST(:queues AS text[])) AS distinct_queues(q)
"""

# Inserts the rows of one JSON array of objects (one statement for 1 or 10,000 tasks; one
# parameter, which the client sends far more cheaply than an array per column; a key left
# out is NULL). A row whose (tenant, idempotency_key) already exists is skipped: the caller
# finds it and compares content.
_ENQUEUE = """
INSERT INTO {s}.tasks AS t (id, tenant, queue, task, args, priority, run_at, max_attempts,
                            timeout_seconds, idempotency_key, fingerprint, traceparent)
SELECT v.id, :tenant, v.queue, v.task, v.args, v.priority,
       coalesce(v.run_at, now() + make_interval(secs => coalesce(v.delay, 0))),
       v.max_attempts, v.timeout_seconds, v.idempotency_key, v.fingerprint, v.traceparent
FROM json_to_recordset(CAST(:rows AS json))
     AS v(id uuid, queue text, task text, args jsonb, priority smallint, run_at timestamptz,
          delay double precision, max_attempts integer, timeout_seconds integer,
          idempotency_key text, fingerprint text, traceparent text)
CROSS JOIN ({durable}) AS side_effects
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING t.*
"""

# An enqueue made under an API key that a caller verified earlier: it writes nothing unless the
# key is still live, so a revocation takes effect at once even for a caller that remembers keys.
_KEY_LIVE = "SELECT 1 FROM {s}.api_keys WHERE id = :key_id AND revoked_at IS NULL"
_KEY_GUARD = "WHERE EXISTS (" + _KEY_LIVE + ")"

_BY_IDEMPOTENCY_KEYS = """
SELECT * FROM {s}.tasks WHERE tenant = :tenant AND idempotency_key = ANY(CAST(:keys AS text[]))
"""

# What a claim does to each picked row, decided on the row's latest version. A task picked
# because its lease expired is finished here instead of handed out again when its cancel was
# requested (cancelled) or its attempts are spent (dead: the worker running it died each time).
# Computed where the claim locks the row (FOR UPDATE returns its latest version).
_CLAIM_NEXT_STATE = """CASE
    WHEN cancel_requested THEN 'cancelled'
    WHEN attempts >= max_attempts THEN 'dead'
    ELSE 'running' END"""

# Leases up to :n claimable tasks of :queues to :worker_id. Claimable: running with an expired
# lease (taken first, whatever the backlog: a dead worker's tasks are rescued within the lease
# time, not after the queue drains), then queued and due, by priority, run_at, id. SKIP LOCKED
# lets concurrent claimers pass each other; attempts are counted here, at claim, so a task that
# kills its worker still uses them up.
# Each queue is read by ordered scans of two small partial indexes (a LATERAL per queue name),
# so no claim ever sorts the backlog; rows a claim locks but does not take stay locked only
# until this short transaction commits.
_CLAIM_CTES = """candidates AS (
    SELECT c.* FROM unnest(CAST(:queues AS text[])) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, 0 AS rank, 0 AS priority, run_at AS due_at, {next_state} AS next_state
        FROM {s}.tasks
        WHERE queue = q.name AND state = 'running' AND run_at <= now(){exclude}
        ORDER BY run_at
        LIMIT :n
        FOR UPDATE SKIP LOCKED
    ) AS c
    UNION ALL
    SELECT c.* FROM unnest(CAST(:queues AS text[])) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, 1 AS rank, priority, run_at AS due_at, 'running' AS next_state
        FROM {s}.tasks
        WHERE queue = q.name AND state = 'queued' AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT :n
        FOR UPDATE SKIP LOCKED
    ) AS c
), picked AS (
    SELECT id, rank, priority, due_at, next_state, next_state = 'running' AS go FROM candidates
    ORDER BY rank, priority DESC, due_at, id
    LIMIT :n
), updated AS (
    UPDATE {s}.tasks AS t SET
        state = p.next_state,
        attempts = t.attempts + CASE WHEN p.go THEN 1 ELSE 0 END,
        lease_token = CASE WHEN p.go THEN gen_random_uuid() END,
        run_at = CASE WHEN p.go THEN now() + make_interval(secs => :lease_seconds)
                      ELSE t.run_at END,
        worker_id = CASE WHEN p.go THEN :worker_id END,
        started_at = CASE WHEN p.go THEN now() ELSE t.started_at END,
        finished_at = CASE WHEN p.go THEN NULL ELSE now() END,
        progress_current = CASE WHEN p.go THEN NULL ELSE t.progress_current END,
        progress_total = CASE WHEN p.go THEN NULL ELSE t.progress_total END,
        progress_message = CASE WHEN p.go THEN NULL ELSE t.progress_message END,
        error_type = CASE WHEN p.next_state = 'dead' THEN 'LeaseExpired' ELSE t.error_type END,
        error_message = CASE WHEN p.next_state = 'dead'
            THEN 'the lease expired on the last of ' || t.max_attempts
                 || ' attempts (the worker stopped, was killed or hung)'
            ELSE t.error_message END
    FROM picked AS p
    WHERE t.id = p.id
    RETURNING t.*, p.rank, p.priority AS claim_priority, p.due_at
)"""

_CLAIM = (
    "WITH "
    + _CLAIM_CTES
    + """
SELECT * FROM updated WHERE state = 'running' ORDER BY rank, claim_priority DESC, due_at, id
"""
)

# Extends every lease (:ids and :tokens, pairwise) whose token still matches, in one statement
# per worker per beat. A lease missing from the answer is lost (an older attempt of a task the
# same worker claimed again is told so: only the pair of id and token counts); cancel_requested
# tells the handler to stop.
_HEARTBEAT = """
UPDATE {s}.tasks AS t SET run_at = now() + make_interval(secs => :lease_seconds)
FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS v(id, token)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.lease_token, t.cancel_requested
"""

# Stores a running task's progress. Matches no row when the lease was lost.
_PROGRESS = """
UPDATE {s}.tasks SET progress_current = :current, progress_total = :total,
                     progress_message = :message
WHERE id = :id AND lease_token = :token AND state = 'running'
RETURNING cancel_requested
"""

# Records the results of a batch of attempts. Matches no row whose lease was lost. :durable
# 'off' lets an acknowledgement commit without waiting for its WAL flush (opt-in; after a
# Postgres crash such a task may run again).
_COMPLETE = """
UPDATE {s}.tasks AS t SET
    state = 'succeeded', result = CAST(v.result AS jsonb), finished_at = now(),
    lease_token = NULL, cancel_requested = false
FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:results AS text[]))
     AS v(id, token, result){commit_mode}
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
"""

# Where a failed attempt goes: cancelled if a cancel was requested, back to queued while
# retryable with attempts left, else dead.
_FAIL_REQUEUE = "NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts"
_FAIL_NEXT_STATE = f"""CASE
    WHEN t.cancel_requested THEN 'cancelled'
    WHEN {_FAIL_REQUEUE} THEN 'queued'
    ELSE 'dead' END"""

# Records a batch of failed attempts; a retry waits :retry_in seconds if given, else a backoff
# with full jitter: random() * min(cap, base * 2^(attempts - 1)). Matches no row whose lease was
# lost.
_FAIL = """
UPDATE {s}.tasks AS t SET
    state = {next_state},
    run_at = CASE WHEN {requeue} THEN now() + make_interval(secs =>
        coalesce(v.retry_in, random() * least(:backoff_cap,
                                              :backoff_base * power(2, t.attempts - 1))))
        ELSE t.run_at END,
    finished_at = CASE WHEN {requeue} THEN NULL ELSE now() END,
    lease_token = NULL, cancel_requested = false,
    error_type = v.error_type, error_message = v.error_message,
    error_traceback = v.error_traceback
FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:retryable AS boolean[]),
            CAST(:retry_in AS double precision[]), CAST(:error_types AS text[]),
            CAST(:error_messages AS text[]), CAST(:error_tracebacks AS text[]))
     AS v(id, token, retryable, retry_in, error_type, error_message, error_traceback){commit_mode}
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.state
"""

_COMMIT_MODE = """
CROSS JOIN (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS commit_mode"""

# One round of a worker in one statement (so one round trip in autocommit): records a batch of
# successes (:ids, :tokens, :results) and of failures (:f_ids, ... as in _FAIL), then claims up
# to :n tasks as _CLAIM does. All parts see one snapshot; the tasks being recorded (:busy) are
# kept out of the claim's scan of expired leases (a row may be changed only once per statement;
# a queued row is never one that is being recorded, whose fenced update needs it running).
# Always answers at least one row: the ids recorded and the new states of the failures on the
# first (only there: they are arrays, NULL when empty), and a claimed task on each (all NULL
# when nothing was claimed), only the columns a worker needs (queue_core.Claimed).
# :ids, :tokens and :busy are array literals and :results a JSON array: one string each, which
# costs the client far less to send than an array of values.
# Kept under psycopg's 4 KiB limit for caching a statement's parsing (for the default schema).
_SYNC = """
WITH done AS ({complete}), bad AS ({fail}), {claim_ctes}
SELECT CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(id) FROM done) END AS completed_ids,
       CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(id) FROM bad) END AS failed_ids,
       CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(state) FROM bad) END AS failed_states,
       c.id, c.lease_token, c.tenant, c.queue, c.task, c.args, c.attempts, c.max_attempts,
       c.timeout_seconds, c.run_at, c.traceparent
FROM (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS m
LEFT JOIN (
    SELECT *, row_number() OVER (ORDER BY rank, claim_priority DESC, due_at, id) AS n
    FROM updated WHERE state = 'running'
) AS c ON true
ORDER BY c.n
"""

_SYNC_EXCLUDE = " AND id <> ALL(CAST(:busy AS uuid[]))"

# Hands unfinished tasks (:ids and :tokens, pairwise) back at once (graceful shutdown). With
# :refund (their handlers never started) the attempt the claim counted is given back; without
# (a handler started, and may be what hangs), the attempt stays charged and a task whose
# attempts are spent ends dead, so a hanging handler cannot outlive its attempts by restarts.
# A task whose cancel was requested ends cancelled instead.
_RELEASE_SPENT = "NOT :refund AND t.attempts >= t.max_attempts"
_RELEASE = """
UPDATE {s}.tasks AS t SET
    state = CASE WHEN t.cancel_requested THEN 'cancelled' WHEN {spent} THEN 'dead'
                 ELSE 'queued' END,
    attempts = CASE WHEN :refund AND NOT t.cancel_requested THEN greatest(t.attempts - 1, 0)
                    ELSE t.attempts END,
    run_at = now(),
    finished_at = CASE WHEN t.cancel_requested OR {spent} THEN now() END,
    error_type = CASE WHEN {spent} AND NOT t.cancel_requested THEN 'WorkerStopped'
                      ELSE t.error_type END,
    error_message = CASE WHEN {spent} AND NOT t.cancel_requested
        THEN 'the worker stopped during the last of ' || t.max_attempts
             || ' attempts (released at shutdown after its grace period)'
        ELSE t.error_message END,
    lease_token = NULL, worker_id = NULL, cancel_requested = false
FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS v(id, token)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
"""

# The claims of one worker's round whose reply was lost (its outcome unknown): running tasks
# stamped with :worker_id, claimed within the last :within seconds, under a token the worker
# does not hold (:held). Their leases are extended and they are handed to the worker as if the
# reply had arrived: the claim already counted the attempt, so nothing is charged twice.
_ADOPT = """
UPDATE {s}.tasks SET run_at = now() + make_interval(secs => :lease_seconds)
WHERE worker_id = :worker_id AND state = 'running'
  AND started_at > now() - make_interval(secs => :within)
  AND lease_token <> ALL(CAST(:held AS uuid[]))
RETURNING id, lease_token, tenant, queue, task, args, attempts, max_attempts, timeout_seconds,
          run_at, traceparent
"""

# Cancels at once when queued; when running, asks the worker (seen at its next heartbeat).
_CANCEL = """
UPDATE {s}.tasks SET
    state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
    finished_at = CASE WHEN state = 'queued' THEN now() END,
    cancel_requested = (state = 'running')
WHERE id = :id AND (CAST(:tenant AS text) IS NULL OR tenant = :tenant)
  AND state IN ('queued', 'running')
RETURNING *
"""

# Re-drives dead tasks as fresh ones: attempts start again, the last error is cleared.
_RETRY_SET = """
    state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, started_at = NULL,
    result = NULL, error_type = NULL, error_message = NULL, error_traceback = NULL,
    progress_current = NULL, progress_total = NULL, progress_message = NULL, worker_id = NULL
"""
_RETRY = """
UPDATE {s}.tasks SET {retry_set}
WHERE id = :id AND (CAST(:tenant AS text) IS NULL OR tenant = :tenant) AND state = 'dead'
RETURNING *
"""
_RETRY_QUEUE = """
WITH driven AS (
    UPDATE {s}.tasks SET {retry_set}
    WHERE queue = :queue AND (CAST(:tenant AS text) IS NULL OR tenant = :tenant)
      AND state = 'dead'
    RETURNING 1
)
SELECT count(*) AS n FROM driven
"""

# Wakes the workers of a queue at commit (after a re-drive; enqueue notifies by itself).
_NOTIFY = "SELECT pg_notify(:channel, :queue)"

# The database clock: the only clock taskrow schedules by (transaction-independent).
_NOW = "SELECT clock_timestamp() AS now"

_GET = """
SELECT * FROM {s}.tasks WHERE id = :id AND (CAST(:tenant AS text) IS NULL OR tenant = :tenant)
"""

_LIST = """
SELECT * FROM {s}.tasks
WHERE (CAST(:tenant AS text) IS NULL OR tenant = :tenant)
  AND (CAST(:queue AS text) IS NULL OR queue = :queue)
  AND (CAST(:state AS text) IS NULL OR state = :state)
  AND (CAST(:before_created AS timestamptz) IS NULL
       OR (created_at, id) < (CAST(:before_created AS timestamptz), CAST(:before_id AS uuid)))
ORDER BY created_at DESC, id DESC
LIMIT :limit
"""

_STATS = """
SELECT queue, state, count(*) AS n,
       extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()))
           AS oldest_due_age
FROM {s}.tasks
WHERE (CAST(:tenant AS text) IS NULL OR tenant = :tenant)
GROUP BY queue, state
ORDER BY queue, state
"""

# Deletes one bounded batch of the oldest finished tasks; SKIP LOCKED so it never waits.
_PRUNE = """
WITH doomed AS (
    SELECT id FROM {s}.tasks
    WHERE state IN ('succeeded', 'dead', 'cancelled')
      AND finished_at < now() - make_interval(secs => :older_than)
    ORDER BY finished_at
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
)
DELETE FROM {s}.tasks AS t USING doomed WHERE t.id = doomed.id
"""


@dataclasses.dataclass(frozen=True)
class Statements:
    """The statements for one schema."""

    enqueue: TextClause
    enqueue_ids: TextClause
    enqueue_quiet: TextClause
    enqueue_as_key: TextClause
    key_is_live: TextClause
    by_idempotency_keys: TextClause
    claim: TextClause
    heartbeat: TextClause
    progress: TextClause
    complete: TextClause
    fail: TextClause
    release: TextClause
    cancel: TextClause
    retry: TextClause
    retry_queue: TextClause
    notify: TextClause
    now: TextClause
    get: TextClause
    list: TextClause
    stats: TextClause
    prune: TextClause
    sync: TextClause
    adopt: TextClause


def _text(sql: str) -> TextClause:
    """A statement with its layout collapsed (no literal here holds a run of spaces): psycopg
    caches the parsing of statements up to 4 KiB long, and the worker's round fits only so."""
    return text(" ".join(sql.split()))


@functools.cache
def for_schema(schema: str) -> Statements:
    s = '"' + schema_name(schema) + '"'
    enqueue = _ENQUEUE.format(s=s, durable=_DURABLE_AND_NOTIFY)
    return Statements(
        enqueue=_text(enqueue),
        enqueue_ids=_text(enqueue.replace("RETURNING t.*", "RETURNING t.id")),
        enqueue_quiet=_text(enqueue.replace("RETURNING t.*", "")),
        enqueue_as_key=_text(
            enqueue.replace("\nON CONFLICT", f"\n{_KEY_GUARD.format(s=s)}\nON CONFLICT")
        ),
        key_is_live=_text(f"SELECT EXISTS ({_KEY_LIVE.format(s=s)}) AS live"),
        by_idempotency_keys=_text(_BY_IDEMPOTENCY_KEYS.format(s=s)),
        claim=_text(_CLAIM.format(s=s, next_state=_CLAIM_NEXT_STATE, exclude="")),
        heartbeat=_text(_HEARTBEAT.format(s=s)),
        progress=_text(_PROGRESS.format(s=s)),
        complete=_text(_COMPLETE.format(s=s, commit_mode=_COMMIT_MODE)),
        fail=_text(
            _FAIL.format(
                s=s, next_state=_FAIL_NEXT_STATE, requeue=_FAIL_REQUEUE, commit_mode=_COMMIT_MODE
            )
        ),
        release=_text(_RELEASE.format(s=s, spent=_RELEASE_SPENT)),
        cancel=_text(_CANCEL.format(s=s)),
        retry=_text(_RETRY.format(s=s, retry_set=_RETRY_SET)),
        retry_queue=_text(_RETRY_QUEUE.format(s=s, retry_set=_RETRY_SET)),
        notify=_text(_NOTIFY),
        now=_text(_NOW),
        get=_text(_GET.format(s=s)),
        list=_text(_LIST.format(s=s)),
        stats=_text(_STATS.format(s=s)),
        prune=_text(_PRUNE.format(s=s)),
        sync=_text(_sync(s)),
        adopt=_text(_ADOPT.format(s=s)),
    )


_SYNC_DONE_FROM = (
    "FROM ROWS FROM (unnest(CAST(:ids AS uuid[])), unnest(CAST(:tokens AS uuid[])),"
    " jsonb_array_elements(CAST(:results AS jsonb))) AS v(id, token, result)"
)


def _sync(s: str) -> str:
    complete = _COMPLETE.format(s=s, commit_mode="")
    old_from = complete[complete.index("FROM unnest(") : complete.index("WHERE t.id")]
    complete = complete.replace(old_from, _SYNC_DONE_FROM + "\n").replace(
        "CAST(v.result AS jsonb)", "v.result"
    )
    fail = _FAIL.format(s=s, next_state=_FAIL_NEXT_STATE, requeue=_FAIL_REQUEUE, commit_mode="")
    for name in ("ids", "tokens"):  # the successes use these names
        fail = fail.replace(f"CAST(:{name} AS", f"CAST(:f_{name} AS")
    sync = _SYNC.format(
        complete=complete,
        fail=fail,
        claim_ctes=_CLAIM_CTES.format(s=s, next_state=_CLAIM_NEXT_STATE, exclude=_SYNC_EXCLUDE),
    )
    # The short form of the parameters' casts keeps the statement under the 4 KiB.
    return re.sub(r"CAST\((:\w+) AS ([^)]+)\)", r"(\1)::\2", sync)
