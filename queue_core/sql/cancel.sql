-- Cancels at once when queued; when running, asks the worker (seen at its next heartbeat).
UPDATE {schema}.tasks SET
    state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
    finished_at = CASE WHEN state = 'queued' THEN now() END,
    cancel_requested = (state = 'running')
WHERE id = :id AND ((:tenant)::text IS NULL OR tenant = :tenant)
  AND state IN ('queued', 'running')
RETURNING *
