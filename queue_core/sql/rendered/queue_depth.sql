-- queue_core.sql.for_schema('taskrow').queue_depth, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/queue_depth.sql, not this.
SELECT count(*) AS n
FROM (
SELECT 1
FROM "taskrow".tasks
WHERE queue = :queue AND state = 'queued'
LIMIT :cap ) AS capped
