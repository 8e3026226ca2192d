-- queue_core.sql.for_schema('taskrow').complete, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/complete.sql, not this.
UPDATE "taskrow".tasks AS t
SET state = 'succeeded', result = v.result, finished_at = now(), lease_token = NULL, cancel_requested = false
FROM ROWS FROM (unnest((:ids)::uuid[]), unnest((:tokens)::uuid[]), jsonb_array_elements((:results)::jsonb)) AS v(id, token, result)
CROSS JOIN (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS commit_mode
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
