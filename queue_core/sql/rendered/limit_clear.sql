-- queue_core.sql.for_schema('taskrow').limit_clear, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/limit_clear.sql, not this.
DELETE
FROM "taskrow".tenant_limits
WHERE tenant = :tenant
RETURNING tenant
