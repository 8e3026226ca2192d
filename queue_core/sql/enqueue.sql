-- Inserts the rows of one JSON array of objects (one statement for 1 or 10,000 tasks; one
-- parameter, which the client sends far more cheaply than an array per column; a key left
-- out is NULL). A row whose (tenant, idempotency_key) already exists is skipped: the caller
-- finds it and compares content.
-- Slots: {key_guard} is empty, or (an enqueue under an API key a caller verified earlier) a
-- WHERE clause that writes nothing unless the key is still live, so a revocation takes effect
-- at once even for a caller that remembers keys; {returning} is what the caller reads back.
INSERT INTO {schema}.tasks AS t (id, tenant, queue, task, args, priority, run_at, max_attempts,
                                 timeout_seconds, idempotency_key, fingerprint, traceparent)
SELECT v.id, :tenant, v.queue, v.task, v.args, v.priority,
       coalesce(v.run_at, now() + make_interval(secs => coalesce(v.delay, 0))),
       v.max_attempts, v.timeout_seconds, v.idempotency_key, v.fingerprint, v.traceparent
FROM json_to_recordset((:rows)::json)
     AS v(id uuid, queue text, task text, args jsonb, priority smallint, run_at timestamptz,
          delay double precision, max_attempts integer, timeout_seconds integer,
          idempotency_key text, fingerprint text, traceparent text)
CROSS JOIN ({durable_and_notify}) AS side_effects
{key_guard}
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
{returning}
