-- queue_core.sql.for_schema('taskrow').tenant_lock, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/tenant_lock.sql, not this.
SELECT pg_advisory_xact_lock(hashtext(:scope), hashtext(:tenant)) AS locked, l.tenant IS NOT NULL AS overridden, l.queue_depth_limit
FROM (SELECT 1) AS one
LEFT JOIN "taskrow".tenant_limits AS l ON l.tenant = :tenant
