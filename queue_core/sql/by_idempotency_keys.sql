-- A tenant's tasks by their idempotency keys (what a replayed enqueue answers with).
SELECT * FROM {schema}.tasks
WHERE tenant = :tenant AND idempotency_key = ANY((:keys)::text[])
