-- Records a batch of failed attempts (:f_ids and :f_tokens pairwise, with their errors).
-- Where a failed attempt goes: cancelled if a cancel was requested, back to queued while
-- retryable with attempts left (after :retry_in seconds if given, else a backoff with full
-- jitter: random() * min(cap, base * 2^(attempts - 1))), else dead. Matches no row whose lease
-- was lost.
-- Slot: {commit_mode}, as in complete.sql.
UPDATE {schema}.tasks AS t SET
    state = CASE WHEN t.cancel_requested THEN 'cancelled' WHEN {requeued} THEN 'queued'
                 ELSE 'dead' END,
    run_at = CASE WHEN {requeued} THEN now() + make_interval(secs =>
        coalesce(v.retry_in, random() * least(:backoff_cap,
                                              :backoff_base * power(2, t.attempts - 1))))
        ELSE t.run_at END,
    finished_at = CASE WHEN {requeued} THEN NULL ELSE now() END,
    lease_token = NULL, cancel_requested = false,
    error_type = v.error_type, error_message = v.error_message,
    error_traceback = v.error_traceback
FROM unnest((:f_ids)::uuid[], (:f_tokens)::uuid[], (:retryable)::boolean[],
            (:retry_in)::double precision[], (:error_types)::text[],
            (:error_messages)::text[], (:error_tracebacks)::text[])
     AS v(id, token, retryable, retry_in, error_type, error_message, error_traceback)
     {commit_mode}
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.state
