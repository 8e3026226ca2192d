-- Tasks per queue and state, and the age of each queue's oldest due task.
SELECT queue, state, count(*) AS n,
       extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()))
           AS oldest_due_age
FROM {schema}.tasks
WHERE ((:tenant)::text IS NULL OR tenant = :tenant)
GROUP BY queue, state
ORDER BY queue, state
