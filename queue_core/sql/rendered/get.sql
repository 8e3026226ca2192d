-- queue_core.sql.for_schema('taskrow').get, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/get.sql, not this.
SELECT *
FROM "taskrow".tasks
WHERE id = :id AND ((:tenant)::text IS NULL OR tenant = :tenant)
