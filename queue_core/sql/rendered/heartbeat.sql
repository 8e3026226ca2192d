-- queue_core.sql.for_schema('taskrow').heartbeat, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/heartbeat.sql, not this.
UPDATE "taskrow".tasks AS t
SET run_at = now() + make_interval(secs => :lease_seconds)
FROM unnest((:ids)::uuid[], (:tokens)::uuid[]) AS v(id, token)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.lease_token, t.cancel_requested
