-- Loads new tasks without idempotency keys, after enqueue_copy_start in the same transaction
-- (COPY FROM STDIN, text format: one line a row, these columns in this order; every other
-- column takes its default: state 'queued', attempts 0, created_at now()). Nothing can
-- conflict: the ids are new and no row has a key.
COPY {schema}.tasks (id, tenant, queue, task, args, priority, run_at, max_attempts,
                     timeout_seconds, traceparent) FROM STDIN
