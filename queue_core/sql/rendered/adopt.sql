-- queue_core.sql.for_schema('taskrow').adopt, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/adopt.sql, not this.
UPDATE "taskrow".tasks
SET run_at = now() + make_interval(secs => :lease_seconds)
WHERE worker_id = :worker_id AND state = 'running' AND started_at > now() - make_interval(secs => :within) AND lease_token <> ALL((:held)::uuid[])
RETURNING id, lease_token, tenant, queue, task, args, attempts, max_attempts, timeout_seconds, run_at AS lease_expires_at, traceparent
