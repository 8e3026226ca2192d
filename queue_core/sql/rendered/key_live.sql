-- queue_core.sql.for_schema('taskrow').key_live, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/key_live.sql, not this.
SELECT id, tenant, name, scopes, queues, created_at, revoked_at, secret_hash
FROM "taskrow".api_keys
WHERE id = :key_id AND revoked_at IS NULL
