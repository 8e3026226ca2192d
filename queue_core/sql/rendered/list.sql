-- queue_core.sql.for_schema('taskrow').list, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/list.sql, not this.
SELECT *
FROM "taskrow".tasks
WHERE ((:tenant)::text IS NULL OR tenant = :tenant) AND ((:queue)::text IS NULL OR queue = :queue) AND ((:state)::text IS NULL OR state = :state) AND ((:before_created)::timestamptz IS NULL OR (created_at, id) < ((:before_created)::timestamptz, (:before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT :limit
