-- queue_core.sql.for_schema('taskrow').redrive_queue, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/redrive_queue.sql, not this.
WITH driven AS (
UPDATE "taskrow".tasks
SET state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, started_at = NULL, result = NULL, error_type = NULL, error_message = NULL, error_traceback = NULL, progress_current = NULL, progress_total = NULL, progress_message = NULL, worker_id = NULL
WHERE queue = :queue AND ((:tenant)::text IS NULL OR tenant = :tenant) AND state = 'dead'
RETURNING 1 )
SELECT count(*) AS n
FROM driven
