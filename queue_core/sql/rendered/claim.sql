-- queue_core.sql.for_schema('taskrow').claim, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/claim.sql, not this.
WITH candidates AS (
SELECT c.*
FROM unnest((:queues)::text[]) AS q(name)
CROSS JOIN LATERAL (
SELECT id, 0 AS rank, 0 AS priority, run_at AS due_at, CASE WHEN cancel_requested THEN 'cancelled' WHEN attempts >= max_attempts THEN 'dead' ELSE 'running' END AS next_state
FROM "taskrow".tasks
WHERE queue = q.name AND state = 'running' AND run_at <= now()
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
SELECT *
FROM updated
WHERE state = 'running'
ORDER BY rank, claim_priority DESC, due_at, id
