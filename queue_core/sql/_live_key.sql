-- The live key :key_id (a revoked key matches nothing).
FROM {schema}.api_keys WHERE id = :key_id AND revoked_at IS NULL
