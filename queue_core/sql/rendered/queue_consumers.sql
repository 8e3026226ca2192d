-- queue_core.sql.for_schema('taskrow').queue_consumers, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/queue_consumers.sql, not this.
SELECT q.name AS queue, count(*) AS n
FROM "taskrow".workers AS w
CROSS JOIN LATERAL unnest(w.queues) AS q(name)
WHERE w.seen_at >= now() - make_interval(secs => :live_seconds)
GROUP BY q.name
