-- queue_core.sql.for_schema('taskrow').worker_announce, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/worker_announce.sql, not this.
WITH forgotten AS (
DELETE
FROM "taskrow".workers
WHERE seen_at < now() - make_interval(secs => :forget_seconds) )
INSERT INTO "taskrow".workers AS w (id, queues, tasks) VALUES (:id, (:queues)::text[], (:tasks)::text[])
ON CONFLICT (id) DO
UPDATE
SET queues = excluded.queues, tasks = excluded.tasks, seen_at = now()
