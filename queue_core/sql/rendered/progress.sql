-- queue_core.sql.for_schema('taskrow').progress, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/progress.sql, not this.
UPDATE "taskrow".tasks
SET progress_current = :current, progress_total = :total, progress_message = :message
WHERE id = :id AND lease_token = :token AND state = 'running'
RETURNING cancel_requested
