-- queue_core.statements.for_schema('taskrow').complete, as it is sent (its layout
-- collapsed to one line when it runs; broken into lines here at its clauses).
-- Rendered by tests/core/test_rendered_sql.py: edit queue_core/statements.py, not this.
UPDATE "taskrow".tasks AS t
SET state = 'succeeded', result = CAST(v.result AS jsonb), finished_at = now(), lease_token = NULL, cancel_requested = false
FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:results AS text[])) AS v(id, token, result)
CROSS JOIN (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS commit_mode
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
