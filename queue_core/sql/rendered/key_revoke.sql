-- queue_core.sql.for_schema('taskrow').key_revoke, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/key_revoke.sql, not this.
UPDATE "taskrow".api_keys
SET revoked_at = coalesce(revoked_at, now())
WHERE id = :id
RETURNING id, tenant, name, scopes, queues, created_at, revoked_at
