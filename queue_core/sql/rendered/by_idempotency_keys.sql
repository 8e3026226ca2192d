-- queue_core.sql.for_schema('taskrow').by_idempotency_keys, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/by_idempotency_keys.sql, not this.
SELECT *
FROM "taskrow".tasks
WHERE tenant = :tenant AND idempotency_key = ANY((:keys)::text[])
