-- queue_core.sql.for_schema('taskrow').enqueue_copy_start, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/enqueue_copy_start.sql, not this.
SELECT now() AS now
FROM (SELECT set_config('synchronous_commit', 'on', true) AS durable, count(pg_notify(:channel, q)) AS notified
FROM unnest((:queues)::text[]) AS distinct_queues(q)) AS side_effects
