-- Hands unfinished tasks (:ids and :tokens, pairwise) back at once (graceful shutdown). With
-- :refund (their handlers never started) the attempt the claim counted is given back; without
-- (a handler started, and may be what hangs), the attempt stays charged and a task whose
-- attempts are spent ends dead, so a hanging handler cannot outlive its attempts by restarts.
-- A task whose cancel was requested ends cancelled instead.
UPDATE {schema}.tasks AS t SET
    state = CASE WHEN t.cancel_requested THEN 'cancelled' WHEN {spent} THEN 'dead'
                 ELSE 'queued' END,
    attempts = CASE WHEN :refund AND NOT t.cancel_requested THEN greatest(t.attempts - 1, 0)
                    ELSE t.attempts END,
    run_at = now(),
    finished_at = CASE WHEN t.cancel_requested OR {spent} THEN now() END,
    error_type = CASE WHEN {spent} AND NOT t.cancel_requested THEN 'WorkerStopped'
                      ELSE t.error_type END,
    error_message = CASE WHEN {spent} AND NOT t.cancel_requested
        THEN 'the worker stopped during the last of ' || t.max_attempts
             || ' attempts (released at shutdown after its grace period)'
        ELSE t.error_message END,
    lease_token = NULL, worker_id = NULL, cancel_requested = false
FROM unnest((:ids)::uuid[], (:tokens)::uuid[]) AS v(id, token)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
