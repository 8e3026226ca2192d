-- queue_core.statements.for_schema('taskrow').adopt, as it is sent (its layout
-- collapsed to one line when it runs; broken into lines here at its clauses).
-- Rendered by tests/core/test_rendered_sql.py: edit queue_core/statements.py, not this.
UPDATE "taskrow".tasks
SET run_at = now() + make_interval(secs => :lease_seconds)
WHERE worker_id = :worker_id AND state = 'running' AND started_at > now() - make_interval(secs => :within) AND lease_token <> ALL(CAST(:held AS uuid[]))
RETURNING id, lease_token, tenant, queue, task, args, attempts, max_attempts, timeout_seconds, run_at, traceparent
