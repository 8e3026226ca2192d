-- queue_core.sql.for_schema('taskrow').key_create, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/key_create.sql, not this.
INSERT INTO "taskrow".api_keys (id, tenant, name, secret_hash, scopes, queues) VALUES (:id, :tenant, :name, :secret_hash, (:scopes)::text[], (:queues)::text[])
RETURNING id, tenant, name, scopes, queues, created_at, revoked_at
