-- Finished tasks per queue and final state over the last hour (and the last minute within it).
-- Reads only the partial index tasks_finished_idx range of the last hour, however long the
-- history: finished_at is set exactly when a task reaches a final state.
SELECT queue, state,
       count(*) FILTER (WHERE finished_at > now() - interval '1 minute') AS last_minute,
       count(*) AS last_hour
FROM {schema}.tasks
WHERE {finished} AND finished_at > now() - interval '1 hour' AND tenant = :tenant
GROUP BY queue, state
ORDER BY queue, state
