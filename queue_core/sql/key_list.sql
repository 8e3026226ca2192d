-- Keys oldest first, of :tenant (all when NULL), revoked ones only when asked.
SELECT {key_columns} FROM {schema}.api_keys
WHERE ((:tenant)::text IS NULL OR tenant = :tenant)
  AND ((:include_revoked)::boolean OR revoked_at IS NULL)
ORDER BY created_at, id
