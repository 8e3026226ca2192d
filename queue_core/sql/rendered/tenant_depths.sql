-- queue_core.sql.for_schema('taskrow').tenant_depths, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/tenant_depths.sql, not this.
SELECT q.name AS queue, (
SELECT count(*)
FROM (
SELECT 1
FROM "taskrow".tasks
WHERE tenant = :tenant AND queue = q.name AND state = 'queued'
LIMIT :cap ) AS capped ) AS n
FROM unnest((:queues)::text[]) AS q(name)
