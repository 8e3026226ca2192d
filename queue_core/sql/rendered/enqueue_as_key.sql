-- queue_core.sql.for_schema('taskrow').enqueue_as_key, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/enqueue_as_key.sql, not this.
INSERT INTO "taskrow".tasks AS t (id, tenant, queue, task, args, priority, run_at, max_attempts, timeout_seconds, idempotency_key, fingerprint, traceparent)
SELECT v.id, :tenant, v.queue, v.task, v.args, v.priority, coalesce(v.run_at, now() + make_interval(secs => coalesce(v.delay, 0))), v.max_attempts, v.timeout_seconds, v.idempotency_key, v.fingerprint, v.traceparent
FROM json_to_recordset((:rows)::json) AS v(id uuid, queue text, task text, args jsonb, priority smallint, run_at timestamptz, delay double precision, max_attempts integer, timeout_seconds integer, idempotency_key text, fingerprint text, traceparent text)
CROSS JOIN (SELECT set_config('synchronous_commit', 'on', true) AS durable, count(pg_notify(:channel, q)) AS notified
FROM unnest((:queues)::text[]) AS distinct_queues(q)) AS side_effects
WHERE EXISTS (SELECT 1
FROM "taskrow".api_keys
WHERE id = :key_id AND revoked_at IS NULL)
ON CONFLICT (tenant, idempotency_key)
WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING t.*
