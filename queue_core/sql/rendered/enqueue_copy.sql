-- queue_core.sql.for_schema('taskrow').enqueue_copy, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/enqueue_copy.sql, not this.
COPY "taskrow".tasks (id, tenant, queue, task, args, priority, run_at, max_attempts, timeout_seconds, traceparent)
FROM STDIN
