-- queue_core.sql.for_schema('taskrow').throughput, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/throughput.sql, not this.
SELECT queue, state, count(*) FILTER (WHERE finished_at > now() - interval '1 minute') AS last_minute, count(*) AS last_hour
FROM "taskrow".tasks
WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at > now() - interval '1 hour' AND tenant = :tenant
GROUP BY queue, state
ORDER BY queue, state
