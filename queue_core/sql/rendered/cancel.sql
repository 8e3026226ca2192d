-- queue_core.sql.for_schema('taskrow').cancel, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/cancel.sql, not this.
UPDATE "taskrow".tasks
SET state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, finished_at = CASE WHEN state = 'queued' THEN now() END, cancel_requested = (state = 'running')
WHERE id = :id AND ((:tenant)::text IS NULL OR tenant = :tenant) AND state IN ('queued', 'running')
RETURNING *
