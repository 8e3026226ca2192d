-- queue_core.sql.for_schema('taskrow').tenant_counts, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/tenant_counts.sql, not this.
SELECT tenant, queue, state, count(*) AS n, extract(epoch
FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now())) AS oldest_due_age
FROM "taskrow".tasks
GROUP BY tenant, queue, state
ORDER BY tenant, queue, state
