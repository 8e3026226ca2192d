-- queue_core.statements.for_schema('taskrow').list, as it is sent (its layout
-- collapsed to one line when it runs; broken into lines here at its clauses).
-- Rendered by tests/core/test_rendered_sql.py: edit queue_core/statements.py, not this.
SELECT *
FROM "taskrow".tasks
WHERE (CAST(:tenant AS text) IS NULL OR tenant = :tenant) AND (CAST(:queue AS text) IS NULL OR queue = :queue) AND (CAST(:state AS text) IS NULL OR state = :state) AND (CAST(:before_created AS timestamptz) IS NULL OR (created_at, id) < (CAST(:before_created AS timestamptz), CAST(:before_id AS uuid)))
ORDER BY created_at DESC, id DESC
LIMIT :limit
