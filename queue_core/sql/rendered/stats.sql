-- queue_core.sql.for_schema('taskrow').stats, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/stats.sql, not this.
SELECT queue, state, count(*) AS n, extract(epoch
FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now())) AS oldest_due_age
FROM "taskrow".tasks
WHERE ((:tenant)::text IS NULL OR tenant = :tenant)
GROUP BY queue, state
ORDER BY queue, state
