-- queue_core.sql.for_schema('taskrow').round, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/round.sql, not this.
WITH done AS (UPDATE "taskrow".tasks AS t
SET state = 'succeeded', result = v.result, finished_at = now(), lease_token = NULL, cancel_requested = false
FROM ROWS FROM (unnest((:ids)::uuid[]), unnest((:tokens)::uuid[]), jsonb_array_elements((:results)::jsonb)) AS v(id, token, result)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id), bad AS (UPDATE "taskrow".tasks AS t
SET state = CASE WHEN t.cancel_requested THEN 'cancelled' WHEN NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts THEN 'queued' ELSE 'dead' END, run_at = CASE WHEN NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts THEN now() + make_interval(secs => coalesce(v.retry_in, random() * least(:backoff_cap, :backoff_base * power(2, t.attempts - 1)))) ELSE t.run_at END, finished_at = CASE WHEN NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts THEN NULL ELSE now() END, lease_token = NULL, cancel_requested = false, error_type = v.error_type, error_message = v.error_message, error_traceback = v.error_traceback
FROM unnest((:f_ids)::uuid[], (:f_tokens)::uuid[], (:retryable)::boolean[], (:retry_in)::double precision[], (:error_types)::text[], (:error_messages)::text[], (:error_tracebacks)::text[]) AS v(id, token, retryable, retry_in, error_type, error_message, error_traceback)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.state), candidates AS (
SELECT c.*
FROM unnest((:queues)::text[]) AS q(name)
CROSS JOIN LATERAL (
SELECT id, 0 AS rank, 0 AS priority, run_at AS due_at, CASE WHEN cancel_requested THEN 'cancelled' WHEN attempts >= max_attempts THEN 'dead' ELSE 'running' END AS next_state
FROM "taskrow".tasks
WHERE queue = q.name AND state = 'running' AND run_at <= now() AND id <> ALL((:busy)::uuid[])
ORDER BY run_at
LIMIT :n
FOR UPDATE SKIP LOCKED ) AS c
UNION ALL
SELECT c.*
FROM unnest((:queues)::text[]) AS q(name)
CROSS JOIN LATERAL (
SELECT id, 1 AS rank, priority, run_at AS due_at, 'running' AS next_state
FROM "taskrow".tasks
WHERE queue = q.name AND state = 'queued' AND run_at <= now()
ORDER BY priority DESC, run_at, id
LIMIT :n
FOR UPDATE SKIP LOCKED ) AS c
), picked AS (
SELECT id, rank, priority, due_at, next_state, next_state = 'running' AS go
FROM candidates
ORDER BY rank, priority DESC, due_at, id
LIMIT :n
), updated AS (
UPDATE "taskrow".tasks AS t
SET state = p.next_state, attempts = t.attempts + CASE WHEN p.go THEN 1 ELSE 0 END, lease_token = CASE WHEN p.go THEN gen_random_uuid() END, run_at = CASE WHEN p.go THEN now() + make_interval(secs => :lease_seconds) ELSE t.run_at END, worker_id = CASE WHEN p.go THEN :worker_id END, started_at = CASE WHEN p.go THEN now() ELSE t.started_at END, finished_at = CASE WHEN p.go THEN NULL ELSE now() END, progress_current = CASE WHEN p.go THEN NULL ELSE t.progress_current END, progress_total = CASE WHEN p.go THEN NULL ELSE t.progress_total END, progress_message = CASE WHEN p.go THEN NULL ELSE t.progress_message END, error_type = CASE WHEN p.next_state = 'dead' THEN 'LeaseExpired' ELSE t.error_type END, error_message = CASE WHEN p.next_state = 'dead' THEN 'the lease expired on the last of ' || t.max_attempts || ' attempts (the worker stopped, was killed or hung)' ELSE t.error_message END
FROM picked AS p
WHERE t.id = p.id
RETURNING t.*, p.rank, p.priority AS claim_priority, p.due_at )
SELECT CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(id)
FROM done) END AS completed_ids, CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(id)
FROM bad) END AS failed_ids, CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(state)
FROM bad) END AS failed_states, id, lease_token, tenant, queue, task, args, attempts, max_attempts, timeout_seconds, run_at AS lease_expires_at, traceparent
FROM (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS m
LEFT JOIN (
SELECT *, row_number() OVER (ORDER BY rank, claim_priority DESC, due_at, id) AS n
FROM updated
WHERE state = 'running' ) AS c ON true
ORDER BY c.n
