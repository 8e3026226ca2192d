-- queue_core.sql.for_schema('taskrow').fail, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/fail.sql, not this.
UPDATE "taskrow".tasks AS t
SET state = CASE WHEN t.cancel_requested THEN 'cancelled' WHEN NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts THEN 'queued' ELSE 'dead' END, run_at = CASE WHEN NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts THEN now() + make_interval(secs => coalesce(v.retry_in, random() * least(:backoff_cap, :backoff_base * power(2, t.attempts - 1)))) ELSE t.run_at END, finished_at = CASE WHEN NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts THEN NULL ELSE now() END, lease_token = NULL, cancel_requested = false, error_type = v.error_type, error_message = v.error_message, error_traceback = v.error_traceback
FROM unnest((:f_ids)::uuid[], (:f_tokens)::uuid[], (:retryable)::boolean[], (:retry_in)::double precision[], (:error_types)::text[], (:error_messages)::text[], (:error_tracebacks)::text[]) AS v(id, token, retryable, retry_in, error_type, error_message, error_traceback)
CROSS JOIN (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS commit_mode
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.state
