-- queue_core.sql.for_schema('taskrow').prune, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/prune.sql, not this.
WITH doomed AS (
SELECT id
FROM "taskrow".tasks
WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at < now() - make_interval(secs => :older_than)
ORDER BY finished_at
LIMIT :batch_size
FOR UPDATE SKIP LOCKED )
DELETE
FROM "taskrow".tasks AS t USING doomed
WHERE t.id = doomed.id
