-- queue_core.sql.for_schema('taskrow').worker_retire, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/worker_retire.sql, not this.
DELETE
FROM "taskrow".workers
WHERE id = :id
