-- queue_core.sql.for_schema('taskrow').release, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/release.sql, not this.
UPDATE "taskrow".tasks AS t
SET state = CASE WHEN t.cancel_requested THEN 'cancelled' WHEN NOT :refund AND t.attempts >= t.max_attempts THEN 'dead' ELSE 'queued' END, attempts = CASE WHEN :refund AND NOT t.cancel_requested THEN greatest(t.attempts - 1, 0) ELSE t.attempts END, run_at = now(), finished_at = CASE WHEN t.cancel_requested OR NOT :refund AND t.attempts >= t.max_attempts THEN now() END, error_type = CASE WHEN NOT :refund AND t.attempts >= t.max_attempts AND NOT t.cancel_requested THEN 'WorkerStopped' ELSE t.error_type END, error_message = CASE WHEN NOT :refund AND t.attempts >= t.max_attempts AND NOT t.cancel_requested THEN 'the worker stopped during the last of ' || t.max_attempts || ' attempts (released at shutdown after its grace period)' ELSE t.error_message END, lease_token = NULL, worker_id = NULL, cancel_requested = false
FROM unnest((:ids)::uuid[], (:tokens)::uuid[]) AS v(id, token)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
