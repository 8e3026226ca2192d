-- queue_core.sql.for_schema('taskrow').key_list, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/key_list.sql, not this.
SELECT id, tenant, name, scopes, queues, created_at, revoked_at
FROM "taskrow".api_keys
WHERE ((:tenant)::text IS NULL OR tenant = :tenant) AND ((:include_revoked)::boolean OR revoked_at IS NULL)
ORDER BY created_at, id
