-- Stores a running task's progress. Matches no row when the lease was lost.
UPDATE {schema}.tasks SET progress_current = :current, progress_total = :total,
                          progress_message = :message
WHERE id = :id AND lease_token = :token AND state = 'running'
RETURNING cancel_requested
