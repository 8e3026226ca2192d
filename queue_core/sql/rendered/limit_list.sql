-- queue_core.sql.for_schema('taskrow').limit_list, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/limit_list.sql, not this.
SELECT tenant, queue_depth_limit, updated_at
FROM "taskrow".tenant_limits
ORDER BY tenant
