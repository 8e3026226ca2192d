-- queue_core.sql.for_schema('taskrow').limit_set, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/limit_set.sql, not this.
INSERT INTO "taskrow".tenant_limits (tenant, queue_depth_limit) VALUES (:tenant, :queue_depth_limit)
ON CONFLICT (tenant) DO
UPDATE
SET queue_depth_limit = EXCLUDED.queue_depth_limit, updated_at = now()
RETURNING tenant, queue_depth_limit, updated_at
